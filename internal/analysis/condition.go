package analysis

import (
	"encoding/json"
	"fmt"

	"github.com/google/cel-go/cel"
)

// costLimit bounds a condition's evaluation, so a condition over a large
// answer cannot hold the reconcile.
const costLimit = 1_000_000

var env, envErr = cel.NewEnv(cel.Variable("result", cel.DynType), cel.CrossTypeNumericComparisons(true))

// Evaluate runs a successCondition over result. An expression that does
// not compile, fails to evaluate (an index past the end, a missing key) or
// gives something other than a bool is an error that says so.
func Evaluate(condition string, result any) (bool, error) {
	if envErr != nil {
		return false, envErr
	}
	ast, iss := env.Compile(condition)
	if iss.Err() != nil {
		return false, fmt.Errorf("successCondition %q does not compile: %w", condition, iss.Err())
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return false, fmt.Errorf("successCondition %q: %w", condition, err)
	}
	out, _, err := prg.Eval(map[string]any{"result": result})
	if err != nil {
		return false, fmt.Errorf("successCondition %q cannot be evaluated on %s: %w", condition, shorten(display(result)), err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("successCondition %q gives %v, not true or false", condition, out.Value())
	}
	return b, nil
}

// display is a result as status shows it: JSON.
func display(result any) string {
	raw, err := json.Marshal(result)
	if err != nil {
		return fmt.Sprint(result)
	}
	return string(raw)
}
