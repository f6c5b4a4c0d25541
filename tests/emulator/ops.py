"""GraphQL documents shared by the emulator tests (short forms of the platform operations).

Inputs travel as whole variables, as the SDK sends them: the contract does not prove the scalar
names inside input types (e.g. AddModelsToProjectInput.project), only the input types' own."""

MODEL = """query($k: IdOrKey!) { model(idOrKey: $k) { key online error isAdapter family supportedTp
  computeConfig { tp kvCacheLen maxSeqLen } backbone { key } } }"""
CREATE_PROJECT = """mutation($i: ProjectCreate!) { createProject(input: $i) { id key name
  description isArchived } }"""
UPDATE_PROJECT = """mutation($k: IdOrKey!, $i: ProjectUpdate!) { updateProject(idOrKey: $k,
  input: $i) { key name description isArchived } }"""
PROJECTS = """query($f: ProjectFilter!) { projects(filter: $f) { key isArchived } }"""
PROJECT = """query($k: IdOrKey!) { project(idOrKey: $k) { key name modelServices { key status
  error isDefault desiredOnline placement { computePools maxTtftMs } model { key } } } }"""
ADD = """mutation($i: AddModelsToProjectInput!) { addModelsToProject(input: $i) { success
  failures { model reason } } }"""
DEPLOY = """mutation($i: DeployModelInput!) { deployModel(input: $i) { warnings
  modelService { id key status error placement { computePools maxTtftMs } } } }"""
UPDATE_SERVICE = """mutation($i: UpdateModelService!) { updateModelService(input: $i) { key
  status isDefault desiredOnline placement { computePools maxTtftMs } } }"""
REMOVE = """mutation($i: RemoveModelFromProjectInput!) { removeModelFromProject(input: $i) }"""
TERMINATE = """mutation($k: IdOrKey!, $f: Boolean!) { terminateModel(idOrKey: $k, force: $f) }"""
COMPUTE = """mutation($k: IdOrKey!, $i: ModelComputeConfigInput!) { updateModelComputeConfig(
  idOrKey: $k, input: $i) { key computeConfig { tp kvCacheLen maxSeqLen } } }"""
POOLS = """{ computePools { key name capabilities harmonyGroups { key worldSize gpuTypes gpuTotal
  gpuAllocated inferencePartitionSize onlineModels { key } } } }"""
CREATE_JOB = """mutation($i: JobInput!) { createJob(input: $i) { id name status progress } }"""
JOB = """query($id: UUID!) { job(id: $id) { id name status progress startedAt endedAt error
  project { key } details { ... on CustomRecipeJobDetails { args } }
  stages { name status info { ... on TrainingJobStageOutput { checkpoints } } }
  artifacts { kind name uri metadata byproducts { __typename
    ... on ModelByproducts { model { key family } } } }
  commonDetails { computePoolId numGpus gpuDurationMs } } }"""
CANCEL_JOB = """mutation($id: UUID!) { cancelJob(id: $id) { status } }"""
RESIZE = """mutation($i: ResizePartitionInput!) { resizeInferencePartition(input: $i) }"""
ME = "{ me { name email teams { team { key } role { key permissions } } } }"
ROLES = "{ roles { key permissions } }"
