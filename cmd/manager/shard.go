package main

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
)

// defaultLease is the leader election Lease of a manager that watches every
// namespace.
const defaultLease = "understudy-manager.deploy.understudy.dev"

// watchedNamespaces parses --namespaces: sorted, without blanks or repeats;
// nil watches all.
func watchedNamespaces(flagValue string) []string {
	var out []string
	for _, ns := range strings.Split(flagValue, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// leaseName is the Lease a shard leads with: managers of one shard (its
// replicas) share it, managers of other shards do not, so each shard has a
// leader of its own. Changing a shard's namespaces changes its Lease: set
// --leader-election-id to keep one Lease across such a change.
func leaseName(shard []string) string {
	if len(shard) == 0 {
		return defaultLease
	}
	sum := sha256.Sum256([]byte(strings.Join(shard, ",")))
	return "understudy-manager-" + hex.EncodeToString(sum[:5]) + ".deploy.understudy.dev"
}
