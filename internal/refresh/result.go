package refresh

import "github.com/understudy-dev/understudy/internal/refreshwire"

// The runner's result and environment live in refreshwire, which the
// controller's pure planner reads too; these names keep the runner's code
// and its callers reading as before.
type (
	// Result is refreshwire.Result.
	Result = refreshwire.Result
	// Object is refreshwire.Object.
	Object = refreshwire.Object
)

// Steps a refresh fails in (see refreshwire).
const (
	StepValidate = refreshwire.StepValidate
	StepConnect  = refreshwire.StepConnect
	StepLock     = refreshwire.StepLock
	StepSource   = refreshwire.StepSource
	StepRestore  = refreshwire.StepRestore
	StepSanitize = refreshwire.StepSanitize
	StepMask     = refreshwire.StepMask
	StepAnalyze  = refreshwire.StepAnalyze
	StepSwap     = refreshwire.StepSwap
	StepJob      = refreshwire.StepJob
)

// Result values.
const (
	Succeeded = refreshwire.Succeeded
	Failed    = refreshwire.Failed
)

// Environment variables the runner reads its credentials from (see
// refreshwire).
const (
	EnvTargetHost        = refreshwire.EnvTargetHost
	EnvTargetPort        = refreshwire.EnvTargetPort
	EnvTargetUser        = refreshwire.EnvTargetUser
	EnvTargetPassword    = refreshwire.EnvTargetPassword
	EnvTargetSSLMode     = refreshwire.EnvTargetSSLMode
	EnvSourceHost        = refreshwire.EnvSourceHost
	EnvSourcePort        = refreshwire.EnvSourcePort
	EnvSourceUser        = refreshwire.EnvSourceUser
	EnvSourcePassword    = refreshwire.EnvSourcePassword
	EnvSourceSSLMode     = refreshwire.EnvSourceSSLMode
	EnvS3AccessKeyID     = refreshwire.EnvS3AccessKeyID
	EnvS3SecretAccessKey = refreshwire.EnvS3SecretAccessKey
)
