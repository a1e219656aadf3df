package nodeagent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// images plays a registry for `local/<program>` images: "pulling" a tag
// hashes the program in ImageBinDir with the tag (BuildDigest) and keeps a
// copy under that digest, so a
// pod names the bits it runs by digest (its imageID is local/<program>@
// sha256:...) and `local/<program>@sha256:...` runs exactly those bits
// later, even after the program behind the tag was rebuilt.
type images struct {
	binDir, store string
	mu            sync.Mutex
}

// imageError is an image that cannot be pulled: the container waits with
// ErrImagePull, as a kubelet's would.
type imageError struct{ err error }

func (e *imageError) Error() string { return e.err.Error() }
func (e *imageError) Unwrap() error { return e.err }

// pull resolves a local image to the path of its bits and its imageID.
func (s *images) pull(image string) (path, imageID string, err error) {
	rest, ok := strings.CutPrefix(image, LocalImagePrefix)
	if !ok {
		return "", "", fmt.Errorf("not a local image: %s", image)
	}
	name, digest, pinned := strings.Cut(rest, "@")
	name, tag, _ := strings.Cut(name, ":")
	s.mu.Lock()
	defer s.mu.Unlock()
	if pinned {
		hexPart, ok := strings.CutPrefix(digest, "sha256:")
		path = filepath.Join(s.store, hexPart)
		if _, statErr := os.Stat(path); !ok || statErr != nil {
			return "", "", &imageError{fmt.Errorf("image %s not found: no %s of %s was ever pulled on this node", image, digest, name)}
		}
		return path, LocalImagePrefix + name + "@" + digest, nil
	}
	src := filepath.Join(s.binDir, name)
	sum, err := BuildDigest(src, tag)
	if err != nil {
		return "", "", &imageError{fmt.Errorf("image %s: %w", image, err)}
	}
	path = filepath.Join(s.store, sum)
	if _, err := os.Stat(path); err != nil {
		if err := copyExecutable(src, path); err != nil {
			return "", "", err
		}
	}
	return path, LocalImagePrefix + name + "@sha256:" + sum, nil
}

// BuildDigest is the digest (hex) of tag's build of the program at path: the
// sha256 of the program's bytes followed by the tag. Each tag of a program
// is then a build of its own, told apart by its digest as two pushes to a
// registry would be (the demo's v1, v2 and v3 run one program), and a
// program rebuilt behind a tag is a new digest. A tag left out is latest.
func BuildDigest(path, tag string) (string, error) {
	if tag == "" {
		tag = "latest"
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	h.Write([]byte("\x00tag:" + tag))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// copyExecutable copies src to dst through a temporary file, so a
// half-written copy is never run.
func copyExecutable(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".pull-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
