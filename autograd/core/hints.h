/* Compiler hints shared by the engine's hot paths: inlining and software
 * prefetch. Not installed. */
#ifndef TAPEGRAD_CORE_HINTS_H
#define TAPEGRAD_CORE_HINTS_H

#include <stdint.h>

/* Inlining hints for the scalar hot paths: AG_NOINLINE keeps a small
 * kernel out of a big one (whose prologue, saved registers and stack for
 * broadcast state, it would otherwise pay); AG_ALWAYS_INLINE keeps the node
 * push inside each recorder, where GCC's heuristics stopped putting it. */
#if defined(__GNUC__)
#define AG_NOINLINE __attribute__((noinline))
#define AG_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define AG_NOINLINE
#define AG_ALWAYS_INLINE inline
#endif

/* Branch hints: checks that are almost never true (anomaly mode), and the
 * scalar recorders' statement path, laid out straight (no taken jumps). */
#if defined(__GNUC__)
#define AG_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define AG_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define AG_UNLIKELY(x) (x)
#define AG_LIKELY(x) (x)
#endif

/* Software prefetch of tape memory (the node list is far larger than the
 * caches, and the hardware's stream prefetch alone left the sweep and the
 * recorders waiting on memory). p may point past the node list: a prefetch
 * never faults. */
#if defined(__GNUC__)
#define AG_PREFETCH(p, w) __builtin_prefetch((const void *)(uintptr_t)(p), w)
#else
#define AG_PREFETCH(p, w) ((void)0)
#endif

#endif /* TAPEGRAD_CORE_HINTS_H */
