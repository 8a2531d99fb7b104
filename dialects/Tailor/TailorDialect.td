//===- TailorDialect.td - All ops of the tailor dialect -------------------===//

include "TailorOps.td"
include "TailorLLMOps.td"
