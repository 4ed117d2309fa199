#include <sqlite3.h>
#include "CSQLiteSettings.h"

// `sqlite3_config` takes C variadic arguments, which Swift cannot pass.
int baton_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
