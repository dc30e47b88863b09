//===- Mha.td - Umbrella for the mha dialect definitions ---*- tablegen -*-===//
// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception
//===----------------------------------------------------------------------===//

#ifndef MHA_DIALECT_MHA_TD
#define MHA_DIALECT_MHA_TD

include "mha/MhaDialect.td"
include "mha/MhaEnums.td"
include "mha/MhaAttrs.td"
include "mha/MhaOps.td"
include "mha/MhaTiledOps.td"
include "mha/MhaLayerOps.td"
include "mha/MhaGemmOps.td"

#endif // MHA_DIALECT_MHA_TD
