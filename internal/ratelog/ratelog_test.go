package ratelog

import (
	"testing"
	"time"
)

func TestOneLinePerPeriodWithTheCountLeftOut(t *testing.T) {
	var l Limiter // one line per Every
	now := time.Unix(1_000_000, 0)
	if ok, left := l.Allow(now); !ok || left != 0 {
		t.Fatalf("first line: %v, %d; want it through with none left out", ok, left)
	}
	for i := range 49 {
		if ok, _ := l.Allow(now.Add(time.Duration(i) * time.Millisecond)); ok {
			t.Fatalf("line %d within the period went through", i+2)
		}
	}
	if ok, left := l.Allow(now.Add(Every)); !ok || left != 49 {
		t.Fatalf("after the period: %v, %d; want it through with 49 left out", ok, left)
	}
	if ok, _ := l.Allow(now.Add(Every + time.Second)); ok {
		t.Fatal("the period restarted from the first line of the flood, not the last line logged")
	}
}

func TestBurstKeepsAFewLinesAndSummarisesAFlood(t *testing.T) {
	l := New(time.Second, 3)
	now := time.Unix(1_000_000, 0)
	for i := range 3 {
		if ok, left := l.Allow(now.Add(time.Duration(i) * time.Millisecond)); !ok || left != 0 {
			t.Fatalf("line %d of the burst: %v, %d", i+1, ok, left)
		}
	}
	for i := range 100 {
		if ok, _ := l.Allow(now.Add(time.Duration(10+i) * time.Millisecond)); ok {
			t.Fatalf("line %d past the burst went through", i+4)
		}
	}
	if ok, left := l.Allow(now.Add(time.Second)); !ok || left != 100 {
		t.Fatalf("next period: %v, %d; want through with 100 left out", ok, left)
	}
	if ok, left := l.Allow(now.Add(time.Second + time.Millisecond)); !ok || left != 0 {
		t.Fatalf("second line of the next period: %v, %d", ok, left)
	}
}
