package expectations

import (
	"testing"
	"time"

	"k8s.io/klog/v2"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestExpectations(t *testing.T) {
	logger := klog.Background()
	type step struct {
		do   func(e *Expectations, clk *clocktesting.FakePassiveClock)
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"no expectations", []step{{func(*Expectations, *clocktesting.FakePassiveClock) {}, true}}},
		{"creations", []step{
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.ExpectCreations(logger, "k", 2) }, false},
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.CreationObserved(logger, "k") }, false},
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.CreationObserved(logger, "k") }, true},
		}},
		{"deletions observed once per key", []step{
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) {
				e.ExpectDeletions(logger, "k", []string{"ns/a", "ns/b"})
			}, false},
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.DeletionObserved(logger, "k", "ns/a") }, false},
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.DeletionObserved(logger, "k", "ns/a") }, false},
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.DeletionObserved(logger, "k", "ns/other") }, false},
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.DeletionObserved(logger, "k", "ns/b") }, true},
		}},
		{"expire after timeout", []step{
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.ExpectCreations(logger, "k", 1) }, false},
			{func(_ *Expectations, c *clocktesting.FakePassiveClock) { c.SetTime(c.Now().Add(Timeout - time.Second)) }, false},
			{func(_ *Expectations, c *clocktesting.FakePassiveClock) { c.SetTime(c.Now().Add(2 * time.Second)) }, true},
		}},
		{"delete forgets", []step{
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.ExpectCreations(logger, "k", 3) }, false},
			{func(e *Expectations, _ *clocktesting.FakePassiveClock) { e.Delete(logger, "k") }, true},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
			e := New(clk)
			for i, s := range tc.steps {
				s.do(e, clk)
				if got := e.Satisfied(logger, "k"); got != s.want {
					t.Fatalf("step %d: Satisfied = %v, want %v", i, got, s.want)
				}
			}
		})
	}
}
