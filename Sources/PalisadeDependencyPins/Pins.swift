// This target holds no code and nothing links it. SwiftPM lets a root package pin a version only
// for a package it declares, and warns about a declared package that no target uses; naming one
// product of each transitive package here is what lets Package.swift pin them all (see its
// comment on reproducible builds).
