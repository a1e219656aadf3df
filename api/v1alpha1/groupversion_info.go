// Package v1alpha1 holds the deploy.understudy.dev/v1alpha1 API: the
// SiteDeployment (blue/green releases) and DatabaseRefresh (scheduled dev
// copies of production) kinds, their validation markers, and the condition
// types, reasons and annotations that users and the controllers share.
// +kubebuilder:object:generate=true
// +groupName=deploy.understudy.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "deploy.understudy.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a scheme.
	SchemeBuilder = &schemeBuilder{}

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// schemeBuilder does what controller-runtime's scheme.Builder does, with
// apimachinery alone: the pure planners read these types, and must not link
// controller-runtime (test/layout_test.go).
type schemeBuilder struct{ runtime.SchemeBuilder }

// Register adds objs, kinds of GroupVersion, to what AddToScheme adds.
func (b *schemeBuilder) Register(objs ...runtime.Object) *schemeBuilder {
	b.SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, objs...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})
	return b
}
