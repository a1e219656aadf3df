package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	kauth "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
)

// Image is one container's image to resolve.
type Image struct {
	Container, Image string
}

// Resolved is an image's content digest (sha256:...), as the registry
// serves it for the tag: a manifest list's own digest for a multi-arch
// image, so every node pulls its platform's image from it.
type Resolved struct {
	Container, Image, Digest string
}

// Resolver asks registries for the digests of tags. A registry that could
// not be asked is not asked again for Backoff, so a thousand releases at
// once against an unreachable registry wait on it once.
type Resolver struct {
	// Timeout bounds one resolution (all of a template's images).
	Timeout time.Duration
	// Backoff is how long a registry that failed is not asked again.
	Backoff time.Duration
	// Transport is the HTTP transport; nil: remote.DefaultTransport.
	Transport http.RoundTripper
	// Now is the clock for Backoff; nil: time.Now.
	Now func() time.Time

	mu     sync.Mutex
	failed map[string]failure // registry host -> its last failure
}

type failure struct {
	at  time.Time
	err error
}

// Resolve returns the digest of every image of images, asked with the
// credentials of pullSecrets (kubernetes.io/dockerconfigjson and
// kubernetes.io/dockercfg Secrets, as the kubelet reads them). Any image
// that cannot be resolved fails the whole set: a candidate starts on the
// digests of all its containers or of none.
func (r *Resolver) Resolve(ctx context.Context, images []Image, pullSecrets []corev1.Secret) ([]Resolved, error) {
	if len(images) == 0 {
		return nil, nil
	}
	kc, err := kauth.NewFromPullSecrets(ctx, pullSecrets)
	if err != nil {
		return nil, fmt.Errorf("cannot read the pull secrets: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	out := make([]Resolved, 0, len(images))
	for _, im := range images {
		d, err := r.digest(ctx, im.Image, kc)
		if err != nil {
			return nil, err
		}
		out = append(out, Resolved{Container: im.Container, Image: im.Image, Digest: d})
	}
	return out, nil
}

func (r *Resolver) digest(ctx context.Context, image string, kc authn.Keychain) (string, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", fmt.Errorf("image %s is not a valid reference: %w", image, err)
	}
	host := ref.Context().RegistryStr()
	if err := r.recentFailure(host); err != nil {
		return "", err
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	desc, err := remote.Head(ref, opts...)
	if err != nil {
		err = fmt.Errorf("cannot resolve %s at %s: %w", image, host, err)
		if unreachable(err) {
			r.remember(host, err)
		}
		return "", err
	}
	return desc.Digest.String(), nil
}

// unreachable: the registry did not answer (as opposed to answering that
// a tag or a permission is missing, which is the image's own problem).
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &op) || errors.As(err, &dns)
}

func (r *Resolver) recentFailure(host string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.failed[host]
	if !ok || r.now().Sub(f.at) >= r.backoff() {
		return nil
	}
	return fmt.Errorf("%w (registry %s not asked again until %s)", f.err, host, f.at.Add(r.backoff()).UTC().Format(time.RFC3339))
}

func (r *Resolver) remember(host string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed == nil {
		r.failed = map[string]failure{}
	}
	r.failed[host] = failure{at: r.now(), err: err}
}

func (r *Resolver) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 10 * time.Second
}

func (r *Resolver) backoff() time.Duration {
	if r.Backoff > 0 {
		return r.Backoff
	}
	return time.Minute
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
