package bluegreen

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// What a candidate is checked on is what takes traffic: its tags are
// resolved before its first pod (resolve.go), or else the digests its
// preview pods resolved are recorded (status.previewDigests) and the
// full-size scale-up runs image@digest, so a tag pushed again between the
// check and the scale-up changes nothing. The revision stays the spec's.

// AllAvailable: d has replicas and reports them all updated and available
// (readyAt at whatever revision and size d runs).
func AllAvailable(d *appsv1.Deployment) bool {
	if d == nil || d.Spec.Replicas == nil || *d.Spec.Replicas == 0 {
		return false
	}
	return readyAt(d, revisionOf(d), *d.Spec.Replicas)
}

// digestRecheck is how often a release held by a digest mismatch looks again.
const digestRecheck = 15 * time.Second

var digestPattern = regexp.MustCompile(`^sha(256|384|512):[a-f0-9]{64,128}$`)

// digestOf is the content digest an imageID names ("repo@sha256:...",
// "docker-pullable://repo@sha256:..."); "" when it names none, as a bare
// image ID ("sha256:..." of the config) is not pullable by digest.
func digestOf(imageID string) string {
	i := strings.LastIndexByte(imageID, '@')
	if i < 0 || !digestPattern.MatchString(imageID[i+1:]) {
		return ""
	}
	return imageID[i+1:]
}

// resolvedImages reads the digests the Ready pods of rev run, per container
// of tmpl. Containers named by digest already, or whose runtime reports
// none, are left out. mismatch says which container's pods disagree.
func resolvedImages(pods []PodImages, rev string, tmpl *corev1.PodTemplateSpec) (pins []v1.PinnedImage, mismatch string) {
	for _, c := range tmpl.Spec.Containers {
		if strings.Contains(c.Image, "@") {
			continue
		}
		byDigest := map[string]string{} // digest -> a pod running it
		for _, p := range pods {
			if d := digestOf(p.ImageIDs[c.Name]); p.Revision == rev && p.Ready && d != "" {
				byDigest[d] = p.Name
			}
		}
		switch len(byDigest) {
		case 0:
		case 1:
			for d := range byDigest {
				pins = append(pins, v1.PinnedImage{Container: c.Name, Image: c.Image, Digest: d})
			}
		default:
			var seen []string
			for d, pod := range byDigest {
				seen = append(seen, fmt.Sprintf("%s on %s", short(d), pod))
			}
			slices.Sort(seen)
			return nil, fmt.Sprintf("preview pods of revision %s run different digests of %s (%s): its tag moved while they started; "+
				"delete the preview pods so that they start on one digest, or name the image by digest in spec.template", rev, c.Image, strings.Join(seen, ", "))
		}
	}
	return pins, ""
}

func short(digest string) string {
	if i := strings.IndexByte(digest, ':'); i >= 0 && len(digest) > i+13 {
		return digest[:i+13]
	}
	return digest
}

// pinned maps containers to the image references that run exactly pins.
func pinned(pins []v1.PinnedImage) map[string]string {
	if len(pins) == 0 {
		return nil
	}
	m := make(map[string]string, len(pins))
	for _, p := range pins {
		m[p.Container] = PinnedRef(p)
	}
	return m
}

// PinnedRef is the image reference of a pin: image@digest.
func PinnedRef(p v1.PinnedImage) string { return p.Image + "@" + p.Digest }

// PinImages sets the pinned containers' images in t (images from
// DeploymentIntent.Images).
func PinImages(t *corev1.PodTemplateSpec, images map[string]string) {
	for i := range t.Spec.Containers {
		if ref, ok := images[t.Spec.Containers[i].Name]; ok {
			t.Spec.Containers[i].Image = ref
		}
	}
}

// runsPinned tells whether a Deployment's template runs every pinned image.
func runsPinned(d *appsv1.Deployment, images map[string]string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		if ref, ok := images[c.Name]; ok && c.Image != ref {
			return false
		}
	}
	return true
}

// recordDigests records the candidate's digests once its preview pods are
// Ready; false holds the release: the pods disagree, or run other bits
// than the ones recorded (a pod restarted on a moved tag).
func (p *planner) recordDigests(c *candidate) bool {
	pods, read := p.in.Pods[c.idle]
	if !read || c.tmpl == nil || p.st.PreviewDigestsFrom == v1.DigestsFromRegistry || p.st.ScaleUpStartedAt != nil {
		return true
	}
	pins, mismatch := resolvedImages(pods, c.target, c.tmpl)
	if mismatch == "" && len(p.st.PreviewDigests) > 0 && len(pins) > 0 && !slices.Equal(pins, p.st.PreviewDigests) {
		mismatch = fmt.Sprintf("preview pods of revision %s now run other digests than the ones recorded when they were first Ready (%s): "+
			"a pod restarted on a moved tag; delete the preview pods, or release the image by digest", c.target, describePins(p.st.PreviewDigests))
	}
	if mismatch != "" {
		p.reason = v1.ReasonImageDigestMismatch
		p.set(v1.PhaseProgressing, mismatch)
		p.wakeAt(p.now.Add(digestRecheck)) // pods restarting need not change the Deployment
		return false
	}
	if len(p.st.PreviewDigests) == 0 {
		p.st.PreviewDigests = pins
	}
	return true
}

func describePins(pins []v1.PinnedImage) string {
	var out []string
	for _, p := range pins {
		out = append(out, p.Image+"@"+short(p.Digest))
	}
	return strings.Join(out, ", ")
}

// digestsOf are the digests a revision ran when it took traffic.
func (p *planner) digestsOf(rev string) []v1.PinnedImage {
	for _, h := range p.st.History {
		if h.Revision == rev {
			return h.Digests
		}
	}
	return nil
}
