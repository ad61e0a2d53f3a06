package sqlstore

import "database/sql"

// Pools exposes a DB's connection pools to the external tests, which check
// the connection settings.
func Pools(db *DB) (write, read *sql.DB) { return db.write, db.read }
