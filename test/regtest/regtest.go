// Package regtest starts a real OCI registry (go-containerregistry's
// registry, the one its own tests use) on loopback for the tests, pushes
// images to it and moves their tags, optionally behind basic auth so pull
// secrets are exercised.
package regtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Registry is a registry on 127.0.0.1.
type Registry struct {
	// Host is host:port, the prefix of its images.
	Host           string
	user, password string
	server         *httptest.Server
}

// Start serves a registry until the test ends. With user set, every
// request must carry those basic-auth credentials.
func Start(t testing.TB, user, password string) *Registry {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if user != "" {
		h = basicAuth(h, user, password)
	}
	s := httptest.NewServer(h) // binds 127.0.0.1
	t.Cleanup(s.Close)
	return &Registry{Host: strings.TrimPrefix(s.URL, "http://"), user: user, password: password, server: s}
}

// Push pushes a new random image under repo:tag (moving the tag when it
// existed) and returns the image reference and its digest.
func (r *Registry) Push(t testing.TB, repo, tag string) (image, digest string) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	image = fmt.Sprintf("%s/%s:%s", r.Host, repo, tag)
	ref, err := name.ParseReference(image)
	if err != nil {
		t.Fatal(err)
	}
	auth := authn.Anonymous
	if r.user != "" {
		auth = &authn.Basic{Username: r.user, Password: r.password}
	}
	if err := remote.Write(ref, img, remote.WithAuth(auth)); err != nil {
		t.Fatalf("push %s: %v", image, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return image, d.String()
}

// PullSecret is a kubernetes.io/dockerconfigjson Secret with the
// registry's credentials.
func (r *Registry) PullSecret(namespace, name string) *corev1.Secret {
	cfg := map[string]any{"auths": map[string]any{r.Host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(r.user + ":" + r.password))}}}
	b, _ := json.Marshal(cfg)
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: b}}
}

// basicAuth refuses requests without the credentials the way a registry
// does: 401 with a Basic challenge.
func basicAuth(next http.Handler, user, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="regtest"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, req)
	})
}
