package refreshjob

import (
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	deployv1alpha1 "github.com/understudy-dev/understudy/api/v1alpha1"
	"github.com/understudy-dev/understudy/internal/refreshwire"
)

// PgBackRestRepoMountPath is where a pgBackRest repository on a volume is
// mounted, read-only.
const PgBackRestRepoMountPath = "/pgbackrest-repo"

// defaultPgBackRestRole is the API's default of spec.source.pgbackrest.role.
const defaultPgBackRestRole = "postgres"

// pgbackrestArgs are the runner's flags for a pgBackRest source: the
// stanza, database, backup and repository, never a credential (a bucket's
// access key comes by secretKeyRef, see s3Env).
func pgbackrestArgs(p *deployv1alpha1.PgBackRestSource) []string {
	role := p.Role
	if role == "" {
		role = defaultPgBackRestRole
	}
	args := []string{"--pgbackrest-stanza", p.Stanza, "--pgbackrest-db", p.Database, "--pgbackrest-role", role}
	if s3 := p.Repository.S3; s3 != nil {
		args = append(args, s3Args(s3)...)
	} else {
		args = append(args, "--pgbackrest-repo-path", PgBackRestRepoDir(&p.Repository))
	}
	if p.Set != "" {
		args = append(args, "--pgbackrest-set", p.Set)
	}
	if p.TargetTime != nil {
		args = append(args, "--pgbackrest-target-time", p.TargetTime.UTC().Format(time.RFC3339))
	}
	keys := make([]string, 0, len(p.Options))
	for k := range p.Options {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		args = append(args, "--pgbackrest-option", k+"="+p.Options[k])
	}
	return args
}

// PgBackRestRepoDir is the runner's --pgbackrest-repo-path: the
// repository's path inside the mount, cleaned so that it cannot leave it.
func PgBackRestRepoDir(r *deployv1alpha1.PgBackRestRepository) string {
	p := r.Path
	if p == "" {
		p = "/"
	}
	return path.Join(PgBackRestRepoMountPath, path.Clean("/"+p))
}

// pgbackrestRepoVolume is the repository's volume, read-only, if it is on
// one.
func pgbackrestRepoVolume(dr *deployv1alpha1.DatabaseRefresh) *corev1.VolumeSource {
	p := dr.Spec.Source.PgBackRest
	if p == nil || p.Repository.Volume == nil {
		return nil
	}
	src := p.Repository.Volume.DeepCopy()
	if src.PersistentVolumeClaim != nil {
		src.PersistentVolumeClaim.ReadOnly = true
	}
	return src
}

// isReservedEnv tells the variables a user's spec.jobTemplate.env must
// not set: the controller's, and pgBackRest's own (an option given there
// would bypass the Secret reference of a credential).
func isReservedEnv(name string) bool {
	return reservedEnv[name] || strings.HasPrefix(name, "PGBACKREST_")
}

// physicalBackupRecord is status.lastRefresh.physicalBackup of the
// runner's backup.
func physicalBackupRecord(b *refreshwire.PhysicalBackup) *deployv1alpha1.PhysicalBackup {
	if b == nil {
		return nil
	}
	rec := &deployv1alpha1.PhysicalBackup{Stanza: b.Stanza, Label: b.Label, Type: b.Type, StartLSN: b.StartLSN, StopLSN: b.StopLSN,
		StartedAt: metaTime(b.StartedAt), StoppedAt: metaTime(b.StoppedAt)}
	if b.TargetTime != nil {
		rec.TargetTime = metaTime(*b.TargetTime)
	}
	return rec
}
