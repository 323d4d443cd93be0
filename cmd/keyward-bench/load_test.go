package main

import (
	"strings"
	"testing"
)

func TestWorkingSetAndFreshWalkSplitThePopulation(t *testing.T) {
	for _, tt := range []struct{ n, w int }{{1000, 10}, {1003, 10}, {999, 1}, {12, 5}} {
		set := workingSet(tt.n, tt.w)
		if len(set) != tt.w {
			t.Fatalf("n=%d w=%d: working set of %d, want %d", tt.n, tt.w, len(set), tt.w)
		}
		seen := map[int]bool{}
		for _, i := range set {
			seen[i] = true
		}
		f, err := newFreshWalk(tt.n, tt.w, 0)
		if err != nil {
			t.Fatal(err)
		}
		fresh := 0
		for {
			i, ok := f.next()
			if !ok {
				break
			}
			if i < 0 || i >= tt.n || seen[i] {
				t.Fatalf("n=%d w=%d: the walk gave %d twice, or from the working set, or out of range", tt.n, tt.w, i)
			}
			seen[i] = true
			fresh++
		}
		if len(seen) != tt.n {
			t.Errorf("n=%d w=%d: the working set and the walk cover %d indices, want all %d", tt.n, tt.w, len(seen), tt.n)
		}
		if f.position() != tt.n {
			t.Errorf("n=%d w=%d: position %d after the walk, want %d", tt.n, tt.w, f.position(), tt.n)
		}
	}
}

func TestFreshWalkResumesWhereAnEarlierOneStopped(t *testing.T) {
	a, _ := newFreshWalk(500, 5, 0)
	seen := map[int]bool{}
	for range 100 {
		i, _ := a.next()
		seen[i] = true
	}
	b, _ := newFreshWalk(500, 5, a.position())
	for range 100 {
		if i, _ := b.next(); seen[i] {
			t.Fatalf("the resumed walk repeated %d", i)
		}
	}
}

func TestPopulationCredentialsLookLikeKeywardsAndAreStable(t *testing.T) {
	p, q := newPopulation("x"), newPopulation("y")
	if p.clientID(7) != newPopulation("x").clientID(7) || p.clientID(7) == q.clientID(7) || p.clientID(7) == p.clientID(8) {
		t.Error("client ids must depend on the population and the index, and on nothing else")
	}
	if id := p.clientID(1); !strings.HasPrefix(id, "m2m_") || len(id) != len("m2m_")+26 {
		t.Errorf("client id %q: want m2m_ and 26 characters", id)
	}
	if s := p.plainSecret(1); !strings.HasPrefix(s, "kw_sk_") || len(s) != len("kw_sk_")+52 {
		t.Errorf("secret %q: want kw_sk_ and 52 characters", s)
	}
}
