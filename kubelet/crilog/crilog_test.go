package crilog

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCRILogStream(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	now := func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 600, time.UTC) }
	long := strings.Repeat("x", maxLogLine+10)
	in := "one\n\ntwo\n" + long + "\nlast"
	if err := criLogStream(&out, &mu, "stderr", strings.NewReader(in), now); err != nil {
		t.Fatal(err)
	}
	ts := "2024-01-02T03:04:05.0000006Z"
	want := ts + " stderr F one\n" + ts + " stderr F \n" + ts + " stderr F two\n" +
		ts + " stderr P " + long[:maxLogLine] + "\n" + ts + " stderr F " + long[maxLogLine:] + "\n" + ts + " stderr F last\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
}
