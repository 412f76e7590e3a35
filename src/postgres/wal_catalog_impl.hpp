// WalCatalog's pimpl: the shared CatalogState (private).
#ifndef PGHA_POSTGRES_WAL_CATALOG_IMPL_HPP
#define PGHA_POSTGRES_WAL_CATALOG_IMPL_HPP

#include "pgha/wal_catalog.hpp"
#include "wal_catalog_state.hpp"

namespace pgha {

struct WalCatalog::Impl : catalog::CatalogState {
  using CatalogState::CatalogState;
};

}  // namespace pgha

#endif  // PGHA_POSTGRES_WAL_CATALOG_IMPL_HPP
