package controllers

import "context"

// step is one named step of a reconcile; R is the reconcile's state, which
// the steps read and fill. Both controllers run their reconciles as lists
// of steps (siteSteps, refreshSteps).
type step[R any] struct {
	name string
	run  func(context.Context, R) error
}

// runSteps runs steps in order until one fails, and names it.
func runSteps[R any](ctx context.Context, steps []step[R], run R) (failed string, err error) {
	for _, s := range steps {
		if err := s.run(ctx, run); err != nil {
			return s.name, err
		}
	}
	return "", nil
}
