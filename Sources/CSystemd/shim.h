#ifndef BATON_CSYSTEMD_SHIM_H
#define BATON_CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#endif
