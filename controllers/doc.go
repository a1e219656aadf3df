// Package controllers holds the thin reconcilers of understudy: they observe
// the cluster, ask the pure planners in internal/ what to do, apply it and
// record status. Decisions live in internal/, not here.
package controllers
