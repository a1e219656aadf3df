package main

import "testing"

func TestShardsLeadApart(t *testing.T) {
	all := leaseName(watchedNamespaces(""))
	a := leaseName(watchedNamespaces("team-a, team-b"))
	if all != defaultLease {
		t.Errorf("a manager of every namespace leads with %s, want %s", all, defaultLease)
	}
	if same := leaseName(watchedNamespaces("team-b,team-a,,team-a")); same != a {
		t.Errorf("one shard written two ways leads with %s and %s", a, same)
	}
	if other := leaseName(watchedNamespaces("team-c")); other == a || other == all {
		t.Errorf("shard team-c shares the Lease %s", other)
	}
}
