//! The one place a model's manifest becomes what the rules know of it: [`model_description`]
//! turns an inference manifest and one of its versions into a [`ModelDescription`] (DESIGN.md,
//! "Policies": the resource `Model` has its attributes from the model's manifest). The policy
//! module knows nothing of manifests and the inference module nothing of policies; the server,
//! which uses both, joins them here, and so do the CLI, the benchmarks and the tests.

use crate::inference::{self, Manifest, VersionManifest};
use crate::policy::{self, ModelDescription};

/// What the rules know of `version` of `model`.
pub fn model_description(model: &Manifest, version: &VersionManifest) -> ModelDescription {
    let licence = &model.licence;
    ModelDescription {
        name: model.name.clone(),
        version: version.version.clone(),
        licence: licence.id.clone(),
        commercial_use: licence.commercial_use,
        attribution: licence.attribution,
        required_licences: licence.required_licences.clone(),
        purposes: model.purposes.clone(),
        risk_class: match model.risk_class {
            inference::RiskClass::Minimal => policy::RiskClass::Minimal,
            inference::RiskClass::Limited => policy::RiskClass::Limited,
            inference::RiskClass::High => policy::RiskClass::High,
        },
        data_categories: model.data_categories.clone(),
        input_categories: model.input_categories.clone(),
        jurisdictions: model.jurisdictions.clone(),
        status: match version.status {
            inference::Status::Active => policy::VersionStatus::Active,
            inference::Status::Deprecated => policy::VersionStatus::Deprecated,
            inference::Status::Recalled => policy::VersionStatus::Recalled,
        },
        confidence_threshold: model.confidence_threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str) -> Manifest {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        Manifest::from_file(
            &root
                .join("tests/fixtures/models")
                .join(name)
                .join("manifest.toml"),
        )
        .unwrap()
    }

    #[test]
    fn every_fact_the_rules_read_comes_from_the_manifest() {
        let m = manifest("clinic-high");
        let v = m.version(&m.default_version).unwrap();
        let d = model_description(&m, v);
        assert_eq!(d.name, m.name);
        assert_eq!(d.version, v.version);
        assert_eq!(d.licence, m.licence.id);
        assert_eq!(d.commercial_use, m.licence.commercial_use);
        assert_eq!(d.attribution, m.licence.attribution);
        assert_eq!(d.required_licences, m.licence.required_licences);
        assert_eq!(d.purposes, m.purposes);
        assert_eq!(d.data_categories, m.data_categories);
        assert_eq!(d.jurisdictions, m.jurisdictions);
        assert_eq!(d.confidence_threshold, m.confidence_threshold);
    }

    #[test]
    fn risk_class_and_status_keep_the_names_manifests_give_them() {
        let mut m = manifest("clinic-high");
        let mut v = m.versions[0].clone();
        for (risk, name) in [
            (inference::RiskClass::Minimal, "minimal"),
            (inference::RiskClass::Limited, "limited"),
            (inference::RiskClass::High, "high"),
        ] {
            m.risk_class = risk;
            assert_eq!(serde_json::to_value(risk).unwrap(), name);
            assert_eq!(model_description(&m, &v).risk_class.as_str(), name);
        }
        for (status, name) in [
            (inference::Status::Active, "active"),
            (inference::Status::Deprecated, "deprecated"),
            (inference::Status::Recalled, "recalled"),
        ] {
            v.status = status;
            assert_eq!(serde_json::to_value(status).unwrap(), name);
            assert_eq!(model_description(&m, &v).status.as_str(), name);
        }
    }
}
