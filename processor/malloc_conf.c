/* malloc_conf: the allocator's options, compiled into every binary.
 *
 * Design: jemalloc reads the global `malloc_conf` before the first
 * allocation, so this cannot live in the configuration table (config.h),
 * which is read after. What it sets:
 *
 *   thp:always  jemalloc asks the kernel for transparent huge pages
 *               (madvise MADV_HUGEPAGE) on its memory. The state is a few
 *               hundred bytes per specimen scattered over hundreds of MB,
 *               and every event touches a few random records: with 4 KiB
 *               pages most of those touches also miss the TLB, and a page
 *               walk under virtualisation costs several memory reads.
 *               Side by side at 1M specimens (benchmarks/README.md) the
 *               core ran about 20% faster with it; RSS grows about 3%.
 *               The kernel must allow it ("madvise" or "always" in
 *               /sys/kernel/mm/transparent_hugepage/enabled; Debian's
 *               default is madvise); with "never" this does nothing.
 *
 * jemalloc applies the MALLOC_CONF environment variable after this string,
 * so an operator can override it without a rebuild (MALLOC_CONF=thp:default
 * restores the kernel's choice). This file is compiled into each binary
 * that links lwcore (an INTERFACE source in CMakeLists.txt): in a static
 * library nothing would pull it in, since nothing refers to it by name. */
#ifdef LW_HAVE_JEMALLOC
const char *malloc_conf = "thp:always";
#else
/* ISO C wants at least one declaration in a translation unit. */
typedef int lw_malloc_conf_unused;
#endif
