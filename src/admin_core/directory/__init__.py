"""The provider directory: providers, their doctors, procedures and accreditations — the
source the graph is projected from."""
