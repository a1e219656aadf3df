// Package v1alpha1 holds the deploy.understudy.dev/v1alpha1 API: the
// SiteDeployment (blue/green releases) and DatabaseRefresh (scheduled dev
// copies of production) kinds, their validation markers, and the condition
// types, reasons and annotations that users and the controllers share.
// +kubebuilder:object:generate=true
// +groupName=deploy.understudy.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "deploy.understudy.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
