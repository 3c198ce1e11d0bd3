// netpol-oracle evaluates traffic against NetworkPolicies with the SIG Network policy model
// (github.com/mattfenwick/cyclonus/pkg/matcher, the engine of the upstream policy-assistant),
// for the differential test of kalypso's wiring/netpol evaluator
// (crates/kalypso/tests/it/netpol_real.rs). The policies it reads are the ones a real
// kube-apiserver stored, so they carry the API server's defaults (policyTypes).
//
// Label selectors are also matched with k8s.io/apimachinery, Kubernetes' own code, and each
// case says whether the policy model's matching agrees with it.
//
// Input (stdin): a JSON array of cases {policies, source, destination, port, portName,
// protocol}; output (stdout): a JSON array of {ingress, egress}, whether each direction allows
// the case's traffic.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/mattfenwick/cyclonus/pkg/kube"
	"github.com/mattfenwick/cyclonus/pkg/matcher"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Peer is a pod: its namespace, the namespace's labels, its own labels and its IP (which
// ipBlock peers match).
type Peer struct {
	IP              string            `json:"ip"`
	Namespace       string            `json:"namespace"`
	NamespaceLabels map[string]string `json:"namespaceLabels"`
	PodLabels       map[string]string `json:"podLabels"`
}

// Case is one flow and the policies of the cluster.
type Case struct {
	Policies    []*networkingv1.NetworkPolicy `json:"policies"`
	Source      Peer                          `json:"source"`
	Destination Peer                          `json:"destination"`
	Port        int                           `json:"port"`
	PortName    string                        `json:"portName"`
	Protocol    string                        `json:"protocol"`
}

// Verdict says whether each direction lets the flow through, and how Kubernetes' own label
// selector code (k8s.io/apimachinery) matches every selector of the case against the four label
// sets involved (client pod, server pod, client namespace, server namespace). ModelDiffers is
// set when the policy model matches one of them differently from apimachinery (cyclonus
// v0.5.6 takes NotIn on an absent key as no match; Kubernetes takes it as a match): its
// verdict is then not Kubernetes' own.
type Verdict struct {
	Ingress      bool            `json:"ingress"`
	Egress       bool            `json:"egress"`
	ModelDiffers bool            `json:"modelDiffers"`
	Selectors    []SelectorMatch `json:"selectors"`
}

// SelectorMatch is one selector and apimachinery's answer for each label set.
type SelectorMatch struct {
	Selector *metav1.LabelSelector `json:"selector"`
	Matches  []bool                `json:"matches"`
}

// selectors lists every label selector of the policies: the pods each selects, and its peers'.
func selectors(pols []*networkingv1.NetworkPolicy) []*metav1.LabelSelector {
	var out []*metav1.LabelSelector
	peer := func(p networkingv1.NetworkPolicyPeer) {
		if p.PodSelector != nil {
			out = append(out, p.PodSelector)
		}
		if p.NamespaceSelector != nil {
			out = append(out, p.NamespaceSelector)
		}
	}
	for _, pol := range pols {
		out = append(out, &pol.Spec.PodSelector)
		for _, r := range pol.Spec.Ingress {
			for _, p := range r.From {
				peer(p)
			}
		}
		for _, r := range pol.Spec.Egress {
			for _, p := range r.To {
				peer(p)
			}
		}
	}
	return out
}

func internal(p Peer) *matcher.TrafficPeer {
	return &matcher.TrafficPeer{IP: p.IP, Internal: &matcher.InternalPeer{
		PodLabels:       p.PodLabels,
		NamespaceLabels: p.NamespaceLabels,
		Namespace:       p.Namespace,
	}}
}

func main() {
	var cases []Case
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		fmt.Fprintln(os.Stderr, "reading cases:", err)
		os.Exit(2)
	}
	out := make([]Verdict, 0, len(cases))
	for i, c := range cases {
		for _, p := range c.Policies {
			if len(p.Spec.PolicyTypes) == 0 {
				fmt.Fprintf(os.Stderr, "case %d: policy %s/%s has no policyTypes (not read back from an API server?)\n", i, p.Namespace, p.Name)
				os.Exit(2)
			}
		}
		policy := matcher.BuildNetworkPolicies(false, c.Policies)
		r := policy.IsTrafficAllowed(&matcher.Traffic{
			Source:           internal(c.Source),
			Destination:      internal(c.Destination),
			ResolvedPort:     c.Port,
			ResolvedPortName: c.PortName,
			Protocol:         v1.Protocol(c.Protocol),
		})
		v := Verdict{Ingress: r.Ingress.IsAllowed(), Egress: r.Egress.IsAllowed(), Selectors: []SelectorMatch{}}
		sets := []map[string]string{c.Source.PodLabels, c.Destination.PodLabels, c.Source.NamespaceLabels, c.Destination.NamespaceLabels}
		for _, sel := range selectors(c.Policies) {
			real, err := metav1.LabelSelectorAsSelector(sel)
			if err != nil {
				fmt.Fprintf(os.Stderr, "case %d: selector %v: %v\n", i, sel, err)
				os.Exit(2)
			}
			m := SelectorMatch{Selector: sel}
			for _, set := range sets {
				ok := real.Matches(labels.Set(set))
				m.Matches = append(m.Matches, ok)
				if ok != kube.IsLabelsMatchLabelSelector(set, *sel) {
					v.ModelDiffers = true
				}
			}
			v.Selectors = append(v.Selectors, m)
		}
		out = append(out, v)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
