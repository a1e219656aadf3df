package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetricCheck is one check that reads a metric, in the manner of Argo
// Rollouts' AnalysisTemplate metrics: every interval it queries Prometheus
// or a web endpoint, judges the result with successCondition, and ends
// after count measurements. It fails once more than failureLimit
// measurements failed, and is inconclusive (the release holds) once more
// than inconclusiveLimit were inconclusive: no data, NaN, an error, a
// server that did not answer. The query and the URL may name
// {{namespace}}, {{site}}, {{color}} and {{revision}}: the site's
// namespace and name, and the color and revision being checked.
// +kubebuilder:validation:XValidation:rule="has(self.prometheus) != has(self.web)",message="a metric check reads either prometheus or web: set exactly one of them"
type MetricCheck struct {
	// Name of the check, unique in its list; status and events name it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// Prometheus queries a Prometheus server (an instant query).
	// +optional
	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`

	// Web reads a JSON (or plain number) answer of an HTTP GET.
	// +optional
	Web *WebMetric `json:"web,omitempty"`

	// SuccessCondition is a CEL expression over `result` that is true
	// when the measurement passes: for Prometheus, result is the list of
	// the vector's sample values (a scalar: a list of one), e.g.
	// `result[0] < 0.05`; for web, the value at jsonPath (or the whole
	// JSON body), e.g. `result.status == "ok"`. An expression that does
	// not compile or evaluate makes the measurement inconclusive, naming
	// the check.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	SuccessCondition string `json:"successCondition"`

	// Interval between measurements.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	Interval *metav1.Duration `json:"interval,omitempty"`

	// Count is how many measurements the check takes before it passes.
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Count *int32 `json:"count,omitempty"`

	// FailureLimit is how many failed measurements the check tolerates;
	// one more fails it.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	FailureLimit *int32 `json:"failureLimit,omitempty"`

	// InconclusiveLimit is how many inconclusive measurements the check
	// tolerates; one more holds the release until a person acts.
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	InconclusiveLimit *int32 `json:"inconclusiveLimit,omitempty"`

	// Timeout of one measurement's request; past it the measurement is
	// inconclusive.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// SoakSpec are the metric checks of the soak (metrics only: it has no Job).
type SoakSpec struct {
	// Metrics are checks that read metrics: all of them must pass.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	// +required
	Metrics []MetricCheck `json:"metrics"`
}

// PrometheusMetric is an instant query against a Prometheus server.
// +kubebuilder:validation:XValidation:rule="has(self.address) != has(self.addressFrom)",message="set exactly one of prometheus.address and prometheus.addressFrom"
type PrometheusMetric struct {
	// Address of the server, e.g. http://prometheus.monitoring:9090.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:Pattern=`^https?://`
	// +optional
	Address string `json:"address,omitempty"`

	// AddressFrom reads the address from a Secret's key.
	// +optional
	AddressFrom *SecretKeyReference `json:"addressFrom,omitempty"`

	// Query is the PromQL expression; variables as in MetricCheck.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=4096
	// +required
	Query string `json:"query"`

	// Auth authenticates to the server.
	// +optional
	Auth *MetricAuth `json:"auth,omitempty"`
}

// MetricAuth is a bearer token or basic credentials, from Secrets only.
// +kubebuilder:validation:XValidation:rule="!(has(self.bearerTokenFrom) && has(self.basicFrom))",message="set at most one of auth.bearerTokenFrom and auth.basicFrom"
type MetricAuth struct {
	// BearerTokenFrom is the Secret key holding a bearer token.
	// +optional
	BearerTokenFrom *SecretKeyReference `json:"bearerTokenFrom,omitempty"`
	// BasicFrom names a Secret with the keys username and password.
	// +optional
	BasicFrom *SecretReference `json:"basicFrom,omitempty"`
}

// WebMetric is an HTTP GET whose answer is judged.
type WebMetric struct {
	// URL to GET; variables as in MetricCheck.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://`
	// +required
	URL string `json:"url"`

	// Headers sent with the request.
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	// +optional
	Headers []WebHeader `json:"headers,omitempty"`

	// JSONPath picks the value judged out of the JSON answer, in
	// kubectl's JSONPath syntax, e.g. `{$.data.errorRate}`; empty: the
	// whole answer.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	JSONPath string `json:"jsonPath,omitempty"`
}

// WebHeader is a request header, its value given or read from a Secret.
// +kubebuilder:validation:XValidation:rule="has(self.value) != has(self.valueFrom)",message="set exactly one of value and valueFrom for a header"
type WebHeader struct {
	// Name of the header.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +required
	Name string `json:"name"`
	// Value of the header: not for credentials (use valueFrom).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Value string `json:"value,omitempty"`
	// ValueFrom reads the value from a Secret's key.
	// +optional
	ValueFrom *SecretKeyReference `json:"valueFrom,omitempty"`
}

// SecretKeyReference names one key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// Key in the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Key string `json:"key"`
}

// AnalysisPhase is where an analysis (or one of its checks) stands.
// +kubebuilder:validation:Enum=Running;Successful;Failed;Inconclusive
type AnalysisPhase string

// Analysis phases; a measurement's verdict is one of the last three.
const (
	AnalysisRunning      AnalysisPhase = "Running"
	AnalysisSuccessful   AnalysisPhase = "Successful"
	AnalysisFailed       AnalysisPhase = "Failed"
	AnalysisInconclusive AnalysisPhase = "Inconclusive"
)

// AnalysisKind is which check an analysis runs.
// +kubebuilder:validation:Enum=PrePromotion;Soak;PostPromotion
type AnalysisKind string

// Analysis kinds.
const (
	AnalysisPrePromotion  AnalysisKind = "PrePromotion"
	AnalysisSoak          AnalysisKind = "Soak"
	AnalysisPostPromotion AnalysisKind = "PostPromotion"
)

// MaxMeasurements is how many measurements status keeps per check (the
// latest ones); the counts cover them all.
const MaxMeasurements = 10

// AnalysisStatus is one run of a check's metrics against a revision.
type AnalysisStatus struct {
	// Kind is the check that runs: PrePromotion, Soak or PostPromotion.
	Kind AnalysisKind `json:"kind"`
	// Revision checked, on Color.
	Revision string `json:"revision"`
	Color    Color  `json:"color,omitempty"`
	// StartedAt is when the run began.
	StartedAt metav1.Time `json:"startedAt"`
	// SpecHash is a hash of the check the run measures: a changed check
	// starts a new run.
	// +optional
	SpecHash string `json:"specHash,omitempty"`
	// Phase is Running until every check passed, one failed, or one was
	// inconclusive.
	Phase AnalysisPhase `json:"phase"`
	// Message gives the verdict and why.
	// +optional
	Message string `json:"message,omitempty"`
	// Checks are the metric checks' results, in spec order.
	// +kubebuilder:validation:MaxItems=8
	// +optional
	Checks []MetricCheckStatus `json:"checks,omitempty"`
}

// MetricCheckStatus is what one metric check measured so far.
type MetricCheckStatus struct {
	// Name of the check.
	Name string `json:"name"`
	// Phase of the check.
	Phase AnalysisPhase `json:"phase"`
	// Successful, Failed and Inconclusive count the measurements.
	Successful   int32 `json:"successful"`
	Failed       int32 `json:"failed"`
	Inconclusive int32 `json:"inconclusive"`
	// Measurements are the latest measurements, oldest first.
	// +kubebuilder:validation:MaxItems=10
	// +optional
	Measurements []Measurement `json:"measurements,omitempty"`
}

// Measurement is one reading of a metric check.
type Measurement struct {
	// Time the measurement was taken.
	Time metav1.Time `json:"time"`
	// Value read, as text (shortened to 256 characters).
	// +optional
	Value string `json:"value,omitempty"`
	// Verdict of the success condition: Successful, Failed or Inconclusive.
	Verdict AnalysisPhase `json:"verdict"`
	// Message says why a measurement is inconclusive (no data, an error).
	// +optional
	Message string `json:"message,omitempty"`
}
