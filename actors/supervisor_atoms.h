// supervisor_atoms: the atoms of the supervisor process's internal (never remote) messages.
// Internal messages carry only atoms, strings and integers, so they need no type registration.
#pragma once

#include "caf/atom.hpp"

namespace kaito::actors {

using reconcile_atom = caf::atom_constant<caf::atom("reconcile")>;
using done_atom = caf::atom_constant<caf::atom("rdone")>;
using timer_atom = caf::atom_constant<caf::atom("rtimer")>;
using stats_atom = caf::atom_constant<caf::atom("rstats")>;
using tick_atom = caf::atom_constant<caf::atom("stick")>;
using event_atom = caf::atom_constant<caf::atom("kevent")>;
using leader_atom = caf::atom_constant<caf::atom("leader")>;
using k8s_done_atom = caf::atom_constant<caf::atom("kdone")>;
using report_done_atom = caf::atom_constant<caf::atom("rptdone")>;

}  // namespace kaito::actors
