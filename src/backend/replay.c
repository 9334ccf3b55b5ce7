/* replay.c — placeholder: being written. */
#include "backend/backend_impl.h"

gh_status gh_backend_open_replay(const char *ref, const gh_backend_params *p, gh_backend *b) {
    (void)p; (void)b;
    return gh_error(GH_ERR_UNSUPPORTED, "%s: replay backends are not built yet", ref);
}
