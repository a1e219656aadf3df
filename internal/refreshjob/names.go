package refreshjob

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// Fixed parts of the runner pod.
const (
	// ContainerName is the runner container; its termination message holds
	// the runner's result.
	ContainerName = "refresh-runner"
	// RunnerCommand is the runner binary, found on the image's PATH.
	RunnerCommand = "refresh-runner"
	// BackupMountPath is where the backup volume is mounted, read-only.
	BackupMountPath = "/backup"
	// ScratchMountPath is the runner's working space (an emptyDir).
	ScratchMountPath = "/scratch"
	// SanitizeMountPath is where the sanitize ConfigMap is mounted.
	SanitizeMountPath = "/sanitize"
	// TmpMountPath is a writable /tmp for the PostgreSQL tools, since the
	// root file system is read-only.
	TmpMountPath = "/tmp"
	// TerminationLogPath is where the runner writes its JSON result.
	TerminationLogPath = "/dev/termination-log"
	// RunAsUser is the non-root user the runner runs as.
	RunAsUser int64 = 65532
)

// AnnotationSpecHash on the CronJob and sanitize ConfigMap is the hash of
// what was rendered, so that a spec change is seen even where the API server
// has defaulted the stored object.
const AnnotationSpecHash = "deploy.understudy.dev/spec-hash"

// MaxNameLength is the longest DatabaseRefresh name whose CronJob name is
// accepted: the CronJob controller appends an 11-character suffix to name its
// Jobs, which must fit in 63 characters.
const MaxNameLength = 52

// CronJobName is the name of the CronJob of a DatabaseRefresh.
func CronJobName(dr *deployv1alpha1.DatabaseRefresh) string { return dr.Name }

// SanitizeConfigMapName is the name of the ConfigMap holding the sanitize SQL.
func SanitizeConfigMapName(dr *deployv1alpha1.DatabaseRefresh) string {
	return dr.Name + "-sanitize"
}

// NowJobName is the name of the Job started for one refresh-now token. It
// is derived from the token so that creating it twice is harmless.
func NowJobName(dr *deployv1alpha1.DatabaseRefresh, token string) string {
	sum := sha256.Sum256([]byte(token))
	base := dr.Name
	if len(base) > 50 { // 50 + "-now-" + 8 = 63, the limit of a label value
		base = base[:50]
	}
	return fmt.Sprintf("%s-now-%s", base, hex.EncodeToString(sum[:])[:8])
}

// Labels are the labels of every object a DatabaseRefresh owns, and of its
// runner pods (the controller finds their pods by them).
func Labels(dr *deployv1alpha1.DatabaseRefresh) map[string]string {
	return map[string]string{deployv1alpha1.LabelRefresh: dr.Name}
}
