package ratelimit

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(3, time.Minute, 100, c.now)

	for i := 1; i <= 3; i++ {
		if _, over := l.Add("a"); over {
			t.Fatalf("event %d of 3 is over the limit", i)
		}
	}
	if _, blocked := l.Blocked("a"); !blocked {
		t.Fatal("after 3 of 3 events the key is not blocked")
	}
	if _, blocked := l.Blocked("b"); blocked {
		t.Fatal("another key is blocked")
	}
	c.t = c.t.Add(20 * time.Second)
	retry, over := l.Add("a")
	if !over || retry != 40*time.Second {
		t.Fatalf("the 4th event: over=%v retry=%v, want over with 40s left", over, retry)
	}
	c.t = c.t.Add(40 * time.Second)
	if _, blocked := l.Blocked("a"); blocked {
		t.Fatal("the key is still blocked in the next window")
	}
	if _, over := l.Add("a"); over {
		t.Fatal("the first event of a new window is over the limit")
	}
}

func TestLimiterStaysBounded(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := New(1, time.Minute, 10, c.now)
	for i := range 1000 {
		l.Add(string(rune('a'+i%26)) + string(rune(i)))
	}
	if n := len(l.buckets); n > 10 {
		t.Fatalf("%d keys held, want at most 10", n)
	}
}
