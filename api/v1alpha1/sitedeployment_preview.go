package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
)

// PreviewSettings are what a candidate's pods get only before they take
// traffic.
type PreviewSettings struct {
	// Env is added to every container of the preview pods, replacing a
	// variable of the same name that spec.template sets.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	// +optional
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Annotations are added to the preview pods' annotations, replacing
	// ones of the same key.
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('deploy.understudy.dev/'))",message="spec.strategy.preview.annotations must not use the deploy.understudy.dev/ prefix: the controller's own annotations live there"
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
}
