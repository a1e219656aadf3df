package refresh

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"
)

// PgBackRestOptions is one database of a pgBackRest stanza's backups.
type PgBackRestOptions struct {
	// Stanza and Database name what is copied (--pgbackrest-stanza,
	// --pgbackrest-db).
	Stanza, Database string
	// RepoPath is the repository's directory on a volume
	// (--pgbackrest-repo-path); or S3 is the bucket holding it (the --s3-*
	// flags; its Prefix is the repository's path in the bucket).
	RepoPath string
	S3       *S3Options
	// Set is the backup label to restore; empty: the newest (before
	// TargetTime, if set).
	Set string
	// TargetTime, if set, is the moment the copy is recovered to; nil: as
	// soon as the backup is consistent.
	TargetTime *time.Time
	// Role is a superuser of the backed-up cluster the dump runs as.
	Role string
	// Options are further pgBackRest options (name without "--" to value).
	Options map[string]string
}

func (p *PgBackRestOptions) validate() error {
	switch {
	case p.Stanza == "":
		return errors.New("--pgbackrest-stanza is required")
	case p.Database == "":
		return errors.New("--pgbackrest-db is required: the database of the backup to copy")
	case (p.RepoPath == "") == (p.S3 == nil):
		return errors.New("give exactly one pgBackRest repository: --pgbackrest-repo-path, or --s3-bucket with --s3-endpoint")
	case p.Role == "":
		return errors.New("--pgbackrest-role is required")
	}
	if p.S3 != nil {
		u, err := url.Parse(p.S3.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return fmt.Errorf("--s3-endpoint %q is not an https:// URL: pgBackRest speaks only TLS to S3", p.S3.Endpoint)
		}
		if p.S3.Bucket == "" || p.S3.AccessKeyID == "" || p.S3.SecretAccessKey == "" {
			return fmt.Errorf("a pgBackRest repository in S3 needs --s3-bucket and an access key in %s and %s (from the credentials Secret)", EnvS3AccessKeyID, EnvS3SecretAccessKey)
		}
	}
	for k := range p.Options {
		if _, reserved := pgbrReserved[k]; reserved {
			return fmt.Errorf("--pgbackrest-option %s: the runner sets this option itself", k)
		}
	}
	return nil
}

// pgbrReserved are the options the runner decides.
var pgbrReserved = map[string]struct{}{
	"stanza": {}, "pg1-path": {}, "db-include": {}, "set": {}, "type": {}, "target": {}, "target-action": {},
	"config": {}, "config-include-path": {}, "lock-path": {}, "log-path": {}, "spool-path": {},
}

// pgbrEnv is the environment pgBackRest (and the throwaway instance's
// archive-get) reads its options from: the repository, the stanza, where
// it may write, the user's options and the S3 access key, which thus
// never appears in an argument or a file.
func (p *PgBackRestOptions) env(work string) []string {
	opts := map[string]string{
		"config":              work + "/pgbackrest.conf",
		"config-include-path": work + "/conf.d",
		"stanza":              p.Stanza,
		"lock-path":           work + "/lock",
		"log-path":            work + "/log",
		"spool-path":          work + "/spool",
		"log-level-file":      "off",
		"log-level-console":   "off",
		"log-level-stderr":    "warn",
	}
	for k, v := range p.Options {
		opts[k] = v
	}
	if p.S3 == nil {
		opts["repo1-path"] = p.RepoPath
	} else {
		u, _ := url.Parse(p.S3.Endpoint)
		opts["repo1-type"] = "s3"
		opts["repo1-s3-endpoint"] = u.Hostname()
		if port := u.Port(); port != "" {
			opts["repo1-storage-port"] = port
		}
		opts["repo1-s3-bucket"] = p.S3.Bucket
		opts["repo1-s3-region"] = p.S3.Region
		opts["repo1-path"] = "/" + strings.Trim(p.S3.Prefix, "/")
		if p.S3.PathStyle {
			opts["repo1-s3-uri-style"] = "path"
		}
		opts["repo1-s3-key"] = p.S3.AccessKeyID
		opts["repo1-s3-key-secret"] = p.S3.SecretAccessKey
	}
	env := make([]string, 0, len(opts))
	for k, v := range opts {
		env = append(env, "PGBACKREST_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_"))+"="+v)
	}
	sort.Strings(env)
	return env
}

// pgbrInfo is the part of `pgbackrest info --output=json` the runner reads.
type pgbrInfo struct {
	Name   string `json:"name"`
	Status struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Backup []pgbrBackup `json:"backup"`
	Repo   []struct {
		Status struct {
			Message string `json:"message"`
		} `json:"status"`
	} `json:"repo"`
}

// reason is pgBackRest's own account of the stanza's status: the
// repositories' messages say what "other" is.
func (in pgbrInfo) reason() string {
	var msgs []string
	for _, r := range in.Repo {
		if m := r.Status.Message; m != "" && m != "ok" {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return in.Status.Message
	}
	return strings.Join(msgs, "; ")
}

type pgbrBackup struct {
	Label string `json:"label"`
	Type  string `json:"type"`
	Error *bool  `json:"error"`
	LSN   struct {
		Start string `json:"start"`
		Stop  string `json:"stop"`
	} `json:"lsn"`
	Timestamp struct {
		Start int64 `json:"start"`
		Stop  int64 `json:"stop"`
	} `json:"timestamp"`
}

// parseInfo reads the stanza's entry of pgBackRest's info and says, in
// words a person can act on, why a stanza without backups cannot be used.
func parseInfo(out []byte, stanza string) ([]pgbrBackup, error) {
	var infos []pgbrInfo
	if err := json.Unmarshal(out, &infos); err != nil {
		return nil, fmt.Errorf("cannot read pgBackRest's info of stanza %q: %w", stanza, err)
	}
	for _, in := range infos {
		if in.Name != stanza {
			continue
		}
		switch in.Status.Code {
		case 0:
			return in.Backup, nil
		case 1:
			return nil, fmt.Errorf("stanza %q is not in the pgBackRest repository (%s): check spec.source.pgbackrest.stanza and repository", stanza, in.reason())
		case 2:
			return nil, fmt.Errorf("stanza %q has no valid backup in the pgBackRest repository (%s)", stanza, in.reason())
		default:
			return nil, fmt.Errorf("cannot read stanza %q of the pgBackRest repository: %s", stanza, in.reason())
		}
	}
	return nil, fmt.Errorf("stanza %q is not in the pgBackRest repository: check spec.source.pgbackrest.stanza", stanza)
}

// pickBackup chooses the backup to restore: the one labelled set, else the
// newest finished before target (any, without a target). Backups pgBackRest
// marks as having errors are never picked by default.
func pickBackup(backups []pgbrBackup, set string, target *time.Time) (pgbrBackup, error) {
	if set != "" {
		for _, b := range backups {
			if b.Label == set {
				if target != nil && time.Unix(b.Timestamp.Stop, 0).After(*target) {
					return pgbrBackup{}, fmt.Errorf("backup %s ended at %s, after the target time %s: it cannot be recovered to that time", set, time.Unix(b.Timestamp.Stop, 0).UTC().Format(time.RFC3339), target.UTC().Format(time.RFC3339))
				}
				return b, nil
			}
		}
		return pgbrBackup{}, fmt.Errorf("there is no backup %s in the stanza (it has %s): check spec.source.pgbackrest.set", set, labels(backups))
	}
	var best *pgbrBackup
	for i, b := range backups {
		if b.Error != nil && *b.Error {
			continue
		}
		if target != nil && time.Unix(b.Timestamp.Stop, 0).After(*target) {
			continue
		}
		if best == nil || b.Timestamp.Stop > best.Timestamp.Stop {
			best = &backups[i]
		}
	}
	if best == nil {
		if target != nil {
			return pgbrBackup{}, fmt.Errorf("no backup of the stanza ended before the target time %s (it has %s)", target.UTC().Format(time.RFC3339), labels(backups))
		}
		return pgbrBackup{}, errors.New("the stanza has no usable backup")
	}
	return *best, nil
}

func labels(backups []pgbrBackup) string {
	if len(backups) == 0 {
		return "none"
	}
	var l []string
	for _, b := range backups {
		l = append(l, b.Label)
	}
	return strings.Join(l, ", ")
}
