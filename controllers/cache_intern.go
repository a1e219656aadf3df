package controllers

import (
	"maps"
	"slices"
	"unique"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/understudy-dev/understudy/api/v1alpha1"
)

// The cache transforms also share the strings that many cached objects
// repeat. The decoder gives every object its own copy of each label key and
// value, namespace, owner reference and condition reason: a site's name is
// in about twenty of them (labels, selectors and owner references of its
// Deployments, Services and revisions), and the label keys in every object.
// At 3,000 sites those copies were several MB of the live heap. The shared
// copy is unique.Make's: it is freed once no cached object uses it, so
// revision hashes and names of deleted sites do not accumulate.

// maxInterned bounds the strings shared: longer ones (a user's annotation
// holding a document) are rarely repeated and would only be hashed.
const maxInterned = 253 // the longest label value or object name

func intern(s string) string {
	if s == "" || len(s) > maxInterned {
		return s
	}
	return unique.Make(s).Value()
}

// internMap returns m with shared keys and values (a new map: the decoded
// one's keys cannot be replaced in place).
func internMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[intern(k)] = intern(v)
	}
	return out
}

// internMeta shares what an object's metadata has in common with others:
// namespace, labels, annotations and owner references. Names and UIDs of the
// object itself are its own and are left alone.
func internMeta(m *metav1.ObjectMeta) {
	m.Namespace = intern(m.Namespace)
	m.Labels = internMap(m.Labels)
	m.Annotations = internMap(m.Annotations)
	for i := range m.OwnerReferences {
		ref := &m.OwnerReferences[i]
		ref.APIVersion, ref.Kind, ref.Name = intern(ref.APIVersion), intern(ref.Kind), intern(ref.Name)
		ref.UID = types.UID(intern(string(ref.UID)))
	}
}

// internDeployment also lets a Deployment's selector and its labels be one
// map when they say the same (setDeployment makes them so): the cache's
// objects are only read, and every copy handed out has its own maps.
func internDeployment(d *appsv1.Deployment) {
	internMeta(&d.ObjectMeta)
	if s := d.Spec.Selector; s != nil {
		if maps.Equal(s.MatchLabels, d.Labels) {
			s.MatchLabels = d.Labels
		} else {
			s.MatchLabels = internMap(s.MatchLabels)
		}
	}
	t := &d.Spec.Template
	t.Labels, t.Annotations = internMap(t.Labels), internMap(t.Annotations)
	for _, cs := range [][]corev1.Container{t.Spec.InitContainers, t.Spec.Containers} {
		for i := range cs {
			cs[i].Name, cs[i].Image = intern(cs[i].Name), intern(cs[i].Image)
		}
	}
}

func internService(svc *corev1.Service) {
	internMeta(&svc.ObjectMeta)
	svc.Spec.Selector = internMap(svc.Spec.Selector)
	for i := range svc.Spec.Ports {
		svc.Spec.Ports[i].Name = intern(svc.Spec.Ports[i].Name)
	}
}

// internSite shares a site's metadata, and of its status the strings
// repeated within it and across sites: each condition's type, status,
// reason and message (the five conditions and status.message usually say
// the same), the revisions it names, and each history record's revision,
// images and changes (sites of one service in several environments run the
// same images). The conditions and history are also copied to their
// length: decoding leaves their slices up to twice as long.
func internSite(site *v1.SiteDeployment) {
	internMeta(&site.ObjectMeta)
	st := &site.Status
	st.Message = intern(st.Message)
	st.CurrentRevision, st.ActiveRevision = intern(st.CurrentRevision), intern(st.ActiveRevision)
	st.PreviewRevision, st.RollbackRevision = intern(st.PreviewRevision), intern(st.RollbackRevision)
	st.Conditions = slices.Clone(st.Conditions)
	for i := range st.Conditions {
		c := &st.Conditions[i]
		c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
	st.History = slices.Clone(st.History)
	for i := range st.History {
		h := &st.History[i]
		h.Revision = intern(h.Revision)
		internStrings(h.Images)
		internStrings(h.Changes)
	}
}

func internStrings(ss []string) {
	for i := range ss {
		ss[i] = intern(ss[i])
	}
}

// internRevision shares a ControllerRevision's metadata; its data is the
// revision's own.
func internRevision(obj any) (any, error) {
	cr, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		return obj, nil
	}
	cr.ManagedFields = nil
	internMeta(&cr.ObjectMeta)
	return cr, nil
}
