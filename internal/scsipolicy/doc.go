// Package scsipolicy decides which SCSI commands a guest may send to a
// pass-through LUN. A Policy is a set of operation codes (and, for commands
// that carry one, service actions) built from a base (filtered, unfiltered or
// none) plus allow and deny rules; Decide looks at a CDB and says allow or
// deny. The package is pure: the iSCSI proxy enforces its decisions on the
// wire and the engine stores and validates the named policies administrators
// define. docs/SCSI-POLICY.md documents the filtered table and its source.
package scsipolicy
