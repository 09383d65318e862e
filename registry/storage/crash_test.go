package storage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	apistorage "k8s.io/apiserver/pkg/storage"
)

// The crash test runs writers in a child process (this test binary re-run
// with crashDirEnv set), kills it with SIGKILL in mid-stream and checks the
// reopened store: every write the child acknowledged (printed as an ACK line
// once Create/GuaranteedUpdate/Delete returned) is there, and no write is
// half there.

const (
	crashDirEnv   = "KUBESHIM_WAL_CRASH_DIR"
	crashRoundEnv = "KUBESHIM_WAL_CRASH_ROUND"
	crashWorkers  = 8
	// crashSnapshotEvery is small so that kills land during snapshots and
	// segment switches too.
	crashSnapshotEvery = 40
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		round, err := strconv.Atoi(os.Getenv(crashRoundEnv))
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad round:", err)
			os.Exit(2)
		}
		crashChild(dir, round)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type crashOp string

const (
	opCreate crashOp = "create"
	opUpdate crashOp = "update"
	opDelete crashOp = "delete"
)

// nextCrashOp is the write a worker does for sequence number seq.
func nextCrashOp(seq int, exists bool) crashOp {
	switch {
	case !exists:
		return opCreate
	case seq%5 == 0:
		return opDelete
	default:
		return opUpdate
	}
}

// crashPad is the padding a worker's object carries at seq: records of
// varied sizes, up to several KiB, so that kills tear records.
func crashPad(w, seq int) string {
	return strings.Repeat(string(rune('a'+seq%26)), (w*7919+seq*104729)%6000)
}

func crashPod(w, seq int) *example.Pod {
	pod := labeledPod("ns", fmt.Sprintf("w%d", w), map[string]string{"seq": strconv.Itoa(seq)})
	pod.Annotations = map[string]string{"pad": crashPad(w, seq)}
	return pod
}

// crashChild writes until it is killed; round makes its sequence numbers
// larger than those of earlier rounds.
func crashChild(dir string, round int) {
	fail := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(2)
	}
	b, err := OpenWAL(dir, Options{}, WALOptions{SnapshotEvery: crashSnapshotEvery})
	if err != nil {
		fail("open: %v", err)
	}
	s := podStore(&childTB{fail: fail}, b)
	var outMu sync.Mutex
	ack := func(w, seq int, op crashOp, rev string) {
		outMu.Lock()
		defer outMu.Unlock()
		// One write per line: a line is either wholly in the pipe or not.
		if _, err := fmt.Fprintf(os.Stdout, "ACK %d %d %s %s\n", w, seq, op, rev); err != nil {
			fail("stdout: %v", err)
		}
	}
	ctx := context.Background()
	for w := 0; w < crashWorkers; w++ {
		go func() {
			key := podKey("ns", fmt.Sprintf("w%d", w))
			err := s.Get(ctx, key, apistorage.GetOptions{}, &example.Pod{})
			exists := err == nil
			if err != nil && !apistorage.IsNotFound(err) {
				fail("get %s: %v", key, err)
			}
			for seq := round*1000000 + 1; ; seq++ {
				op := nextCrashOp(seq, exists)
				out := &example.Pod{}
				switch op {
				case opCreate:
					err = s.Create(ctx, key, crashPod(w, seq), out, 0)
				case opUpdate:
					err = s.GuaranteedUpdate(ctx, key, out, false, nil, func(obj k8sruntime.Object, _ apistorage.ResponseMeta) (k8sruntime.Object, *uint64, error) {
						pod := obj.(*example.Pod)
						want := crashPod(w, seq)
						pod.Labels, pod.Annotations = want.Labels, want.Annotations
						return pod, nil, nil
					}, nil)
				case opDelete:
					err = s.Delete(ctx, key, out, nil, apistorage.ValidateAllObjectFunc, nil, apistorage.DeleteOptions{})
				}
				if err != nil {
					fail("%s %s seq %d: %v", op, key, seq, err)
				}
				ack(w, seq, op, out.ResourceVersion)
				exists = op != opDelete
			}
		}()
	}
	select {}
}

// childTB is the testing.TB podStore needs, outside of a test.
type childTB struct {
	testing.TB
	fail func(string, ...any)
}

func (c *childTB) Helper()                   {}
func (c *childTB) Cleanup(func())            {}
func (c *childTB) Fatal(args ...any)         { c.fail("%s", fmt.Sprint(args...)) }
func (c *childTB) Fatalf(f string, a ...any) { c.fail(f, a...) }

// workerState is what a worker's key holds.
type workerState struct {
	exists bool
	seq    int
	rev    int64
}

type crashAck struct {
	w, seq int
	op     crashOp
	rev    int64
}

// runCrashChild runs one child round, kills it with SIGKILL after killAfter
// acknowledgements and returns every acknowledgement it printed.
func runCrashChild(t *testing.T, dir string, round, killAfter int) []crashAck {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	var acks []crashAck
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		var a crashAck
		var rev string
		if _, err := fmt.Sscanf(sc.Text(), "ACK %d %d %s %s", &a.w, &a.seq, &a.op, &rev); err != nil {
			t.Fatalf("bad line from the child %q: %v", sc.Text(), err)
		}
		if a.rev, err = strconv.ParseInt(rev, 10, 64); err != nil {
			t.Fatalf("bad resourceVersion in %q", sc.Text())
		}
		acks = append(acks, a)
		if len(acks) == killAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acknowledgements: %v\n%s", len(acks), err, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: %v\n%s", cmd.ProcessState, stderr.String())
	}
	return acks
}

func TestWALCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 9))
	states := make([]workerState, crashWorkers)
	var maxAcked int64
	for round := 1; round <= 4; round++ {
		killAfter := 50 + rng.IntN(350)
		acks := runCrashChild(t, dir, round, killAfter)

		// What each worker's key holds after its last acknowledged write.
		last := slices.Clone(states)
		nextSeq := make([]int, crashWorkers)
		for w := range nextSeq {
			nextSeq[w] = round*1000000 + 1
		}
		for _, a := range acks {
			if a.seq != nextSeq[a.w] {
				t.Fatalf("round %d: worker %d acknowledged seq %d, want %d", round, a.w, a.seq, nextSeq[a.w])
			}
			if op := nextCrashOp(a.seq, last[a.w].exists); op != a.op {
				t.Fatalf("round %d: worker %d did %s at seq %d, want %s", round, a.w, a.op, a.seq, op)
			}
			if a.rev <= last[a.w].rev {
				t.Fatalf("round %d: worker %d: revision %d after %d", round, a.w, a.rev, last[a.w].rev)
			}
			last[a.w] = workerState{exists: a.op != opDelete, seq: a.seq, rev: a.rev}
			nextSeq[a.w]++
			maxAcked = max(maxAcked, a.rev)
		}

		b, stats, err := openWAL(dir, Options{}, WALOptions{SnapshotEvery: crashSnapshotEvery})
		if err != nil {
			t.Fatalf("round %d: reopening after SIGKILL: %v", round, err)
		}
		s := podStore(t, b)
		t.Logf("round %d: killed after %d acknowledged writes; reopened at revision %d: %+v", round, len(acks), b.CurrentRevision(), stats)
		if b.CurrentRevision() < maxAcked {
			t.Errorf("round %d: reopened at revision %d, but revision %d was acknowledged", round, b.CurrentRevision(), maxAcked)
		}
		for w := range crashWorkers {
			got := &example.Pod{}
			err := s.Get(context.Background(), podKey("ns", fmt.Sprintf("w%d", w)), apistorage.GetOptions{}, got)
			var rec workerState
			switch {
			case err == nil:
				rec.exists = true
				rec.rev = rvOf(t, got)
				if rec.seq, err = strconv.Atoi(got.Labels["seq"]); err != nil {
					t.Fatalf("round %d: worker %d: bad object %v", round, w, got.Labels)
				}
				if got.Annotations["pad"] != crashPad(w, rec.seq) {
					t.Errorf("round %d: worker %d: object at seq %d is not the one written (pad of %d bytes)", round, w, rec.seq, len(got.Annotations["pad"]))
				}
			case apistorage.IsNotFound(err):
			default:
				t.Fatalf("round %d: worker %d: %v", round, w, err)
			}
			// The last acknowledged write, or the one in flight after it.
			l, next := last[w], nextSeq[w]
			nextOp := nextCrashOp(next, l.exists)
			isLast := rec.exists == l.exists && (!rec.exists || rec.seq == l.seq && rec.rev == l.rev)
			isNext := (nextOp == opDelete && !rec.exists) || (nextOp != opDelete && rec.exists && rec.seq == next && rec.rev > l.rev)
			if !isLast && !isNext {
				t.Errorf("round %d: worker %d holds %+v; last acknowledged %+v, in flight %s of seq %d", round, w, rec, l, nextOp, next)
			}
			if !rec.exists {
				rec.seq = l.seq
				rec.rev = max(l.rev, rec.rev)
			}
			states[w] = rec
		}
		maxAcked = b.CurrentRevision()
		// Half the rounds end cleanly (final snapshot), half crash again.
		if round%2 == 0 {
			b.Close()
		} else {
			crash(b)
		}
	}
}
