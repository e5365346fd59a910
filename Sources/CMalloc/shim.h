#include <malloc.h>
#include <stdlib.h>

/* The allocator settings of Ariadne's processes (the server and the benchmarks), each unless an
   operator set glibc's own variable for it:
   - request bodies and decoded batches are large (hundreds of KiB to MiB) and short-lived: glibc
     would serve each from a fresh mmap and hand it back at free, so every request paid for page
     faults on zeroed pages; keep such blocks in the heap instead (and trim the heap's top only
     past 256 MiB free; the engine hands back what a cut freed with malloc_trim);
   - two arenas, not glibc's eight per core: a span batch is decoded on one thread and freed on
     another, and with an arena per thread each kept its own high-water mark of freed batches —
     at 87k spans/s the server's RSS was 712 MB with the default arenas and 358 MB with two. */
static inline void ariadne_tune_malloc(void) {
    if (!getenv("MALLOC_MMAP_THRESHOLD_")) mallopt(M_MMAP_THRESHOLD, 64 << 20);
    if (!getenv("MALLOC_TRIM_THRESHOLD_")) mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (!getenv("MALLOC_ARENA_MAX")) mallopt(M_ARENA_MAX, 2);
}
