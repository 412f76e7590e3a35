// Symbol visibility for the pgha library. Everything not marked PGHA_API is hidden.
#ifndef PGHA_EXPORT_HPP
#define PGHA_EXPORT_HPP

#if defined(PGHA_STATIC)
#define PGHA_API
#elif defined(__GNUC__) || defined(__clang__)
#define PGHA_API __attribute__((visibility("default")))
#else
#define PGHA_API
#endif

#endif  // PGHA_EXPORT_HPP
