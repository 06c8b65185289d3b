/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * abi_copy_test: the ABI declarations that xl-patches/<series>/0001
 * repeats in libxl_physmap_plugin.c must match include/physmap_hooks.h.
 *
 * The Makefile extracts them from the patch (from "#define
 * PHYSMAP_ABI_VERSION" to the physmap_strerror_fn typedef), renames the
 * copy's macros to COPY_PHYSMAP_* and its struct definition to
 * struct physmap_hook_opts_copy, and compiles this file with
 * -DABI_COPY='"<that file>"' under -Wall -Wextra -Werror.  Compiling is
 * the test:
 *
 *  - constants: _Static_assert on each value;
 *  - struct physmap_hook_opts: size, alignment, and each member's offset
 *    and type;
 *  - functions: the copy's typedefs still name the header's struct, so
 *    assigning the header's functions to pointers of the copy's types
 *    compares the whole function types (an incompatible pointer type is
 *    an error under -Werror).
 *
 * `make test-loader` also compiles deliberately altered copies and
 * requires each of them to fail.
 */

#include <stddef.h>

#include "physmap_hooks.h"

#include ABI_COPY

#define SAME_TYPE(a, b) \
    __builtin_types_compatible_p(__typeof__(a), __typeof__(b))

#define CHECK_MEMBER(m)                                                 \
    _Static_assert(offsetof(struct physmap_hook_opts_copy, m) ==        \
                   offsetof(struct physmap_hook_opts, m),               \
                   "offset of " #m);                                    \
    _Static_assert(SAME_TYPE(((struct physmap_hook_opts_copy *)0)->m,   \
                             ((struct physmap_hook_opts *)0)->m),       \
                   "type of " #m)

_Static_assert(COPY_PHYSMAP_ABI_VERSION == PHYSMAP_ABI_VERSION,
               "PHYSMAP_ABI_VERSION");
_Static_assert(COPY_PHYSMAP_FORMAT_XENSTORE_KV == PHYSMAP_FORMAT_XENSTORE_KV,
               "PHYSMAP_FORMAT_XENSTORE_KV");

_Static_assert(sizeof(struct physmap_hook_opts_copy) ==
               sizeof(struct physmap_hook_opts),
               "size of struct physmap_hook_opts");
_Static_assert(_Alignof(struct physmap_hook_opts_copy) ==
               _Alignof(struct physmap_hook_opts),
               "alignment of struct physmap_hook_opts");
CHECK_MEMBER(abi_version);
CHECK_MEMBER(dm_domid);
CHECK_MEMBER(format);
CHECK_MEMBER(flags);
CHECK_MEMBER(xs_handle);
CHECK_MEMBER(logger);

void abi_copy_check(void);

void abi_copy_check(void)
{
    physmap_abi_version_fn *abi_version = physmap_abi_version;
    physmap_save_hook_fn *save_hook = physmap_save_hook;
    physmap_restore_hook_fn *restore_hook = physmap_restore_hook;
    physmap_free_fn *free_buf = physmap_free;
    physmap_strerror_fn *describe = physmap_strerror;

    (void)abi_version;
    (void)save_hook;
    (void)restore_hook;
    (void)free_buf;
    (void)describe;
}
