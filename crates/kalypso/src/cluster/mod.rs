//! Talking to a Kubernetes cluster: client from kubeconfig, port-forward.
