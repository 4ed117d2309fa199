#ifndef BATON_CSQLITESETTINGS_H
#define BATON_CSQLITESETTINGS_H

/// Turns off SQLite's memory statistics, which take a process-wide mutex on every
/// allocation and free. Returns SQLite's result code: SQLITE_MISUSE (21) when SQLite was
/// already initialized, and nothing changed.
int baton_sqlite_disable_memory_statistics(void);

#endif
