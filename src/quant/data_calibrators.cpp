#include "quant/data_calibrators.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "core/file_util.h"
#include "core/status_macros.h"
#include "data/tensor_file.h"

namespace qrt::quant {

std::optional<std::string> FileCacheCalibrator::readCache() {
  if (opts_.cache_path.empty() || !std::filesystem::exists(opts_.cache_path)) return std::nullopt;
  auto bytes = readFileBytes(opts_.cache_path);
  if (!bytes.ok()) return std::nullopt;
  return std::string(bytes->begin(), bytes->end());
}

Status FileCacheCalibrator::writeCache(const std::string& cache) {
  if (opts_.cache_path.empty()) return Status::Ok();
  return writeFileAtomic(opts_.cache_path, cache.data(), cache.size());
}

ImageFolderCalibrator::ImageFolderCalibrator(std::vector<std::string> paths, std::string input, PreprocessSpec spec,
                                             DataCalibratorOptions opts)
    : FileCacheCalibrator(std::move(opts)), paths_(std::move(paths)), input_(std::move(input)), spec_(std::move(spec)) {}

Result<std::unique_ptr<ImageFolderCalibrator>> ImageFolderCalibrator::create(const std::string& dir,
                                                                             const std::string& input_name,
                                                                             const PreprocessSpec& spec,
                                                                             DataCalibratorOptions opts) {
  QRT_RETURN_IF_ERROR(validatePreprocess(spec));
  if (opts.batch_size <= 0) return invalidArgument("calibration batch size must be positive, got ", opts.batch_size);
  QRT_ASSIGN_OR_RETURN(std::vector<std::string> paths, listImageFiles(dir, /*recursive=*/true));
  if (opts.max_samples > 0 && paths.size() > static_cast<size_t>(opts.max_samples)) paths.resize(opts.max_samples);
  auto c = std::unique_ptr<ImageFolderCalibrator>(new ImageFolderCalibrator(std::move(paths), input_name, spec, opts));
  QRT_RETURN_IF_ERROR(c->reset());
  return c;
}

Status ImageFolderCalibrator::reset() {
  loader_ = std::make_unique<ImageBatchLoader>(paths_, spec_, opts_.batch_size);
  return Status::Ok();
}

Result<bool> ImageFolderCalibrator::getBatch(CalibrationBatch& batch) {
  ImageBatch b;
  QRT_ASSIGN_OR_RETURN(bool more, loader_->next(&b));
  if (!more) return false;
  batch.inputs.clear();
  CalibrationBatch::Tensor t;
  t.dims = b.tensor.dims();
  t.data.assign(b.tensor.as<float>(), b.tensor.as<float>() + b.tensor.numel());
  batch.samples = t.dims.empty() ? 0 : t.dims[0];
  batch.inputs[input_] = std::move(t);
  return true;
}

Result<bool> CacheOnlyCalibrator::getBatch(CalibrationBatch&) {
  return invalidArgument("calibration cache '", opts_.cache_path, "' is missing or does not match the model, and no ",
                         "calibration data was given (--calib-dir DIR or --calib-npy NAME=DIR)");
}

Result<std::unique_ptr<NpyCalibrator>> NpyCalibrator::create(
    const std::vector<std::pair<std::string, std::string>>& inputs, const std::map<std::string, size_t>& input_ranks,
    DataCalibratorOptions opts) {
  auto c = std::unique_ptr<NpyCalibrator>(new NpyCalibrator(opts));
  if (inputs.empty()) return invalidArgument("no calibration tensors given");
  for (const auto& [name, path] : inputs) {
    auto rank = input_ranks.find(name);
    if (rank == input_ranks.end()) return notFound("calibration data given for '", name, "', which is not a model input");
    Source s{name, {}, rank->second};
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      for (const auto& e : std::filesystem::directory_iterator(path, ec))
        if (e.is_regular_file() && e.path().extension() == ".npy") s.files.push_back(e.path().string());
      std::sort(s.files.begin(), s.files.end());
      if (s.files.empty()) return notFound("no .npy files in calibration folder '", path, "'");
    } else if (std::filesystem::exists(path, ec)) {
      s.files.push_back(path);
    } else {
      return notFound("calibration data '", path, "' does not exist");
    }
    c->sources_.push_back(std::move(s));
  }
  for (const auto& [name, rank] : input_ranks) {
    bool given = std::any_of(c->sources_.begin(), c->sources_.end(), [&](const Source& s) { return s.name == name; });
    if (!given) return invalidArgument("no calibration data for model input '", name, "'");
  }
  size_t n = c->sources_[0].files.size();
  for (const Source& s : c->sources_)
    if (s.files.size() != n)
      return invalidArgument("calibration inputs have different file counts: '", c->sources_[0].name, "' has ", n,
                             ", '", s.name, "' has ", s.files.size());
  return c;
}

Status NpyCalibrator::reset() {
  file_pos_ = 0;
  samples_done_ = 0;
  return Status::Ok();
}

Result<bool> NpyCalibrator::getBatch(CalibrationBatch& batch) {
  batch.inputs.clear();
  batch.samples = 0;
  const int64_t limit = opts_.max_samples > 0 ? opts_.max_samples : INT64_MAX;
  const size_t nfiles = sources_[0].files.size();
  // Gathers whole files until the batch size is reached (a batch file counts as its dim 0).
  while (file_pos_ < nfiles && batch.samples < opts_.batch_size && samples_done_ < limit) {
    int64_t file_samples = -1;
    for (const Source& s : sources_) {
      QRT_ASSIGN_OR_RETURN(HostTensor t, readNpy(s.files[file_pos_]));
      QRT_ASSIGN_OR_RETURN(HostTensor f, castTensor(t, DataType::kFloat));
      Dims d = f.dims();
      if (d.size() + 1 == s.rank) d.insert(d.begin(), 1);
      if (d.size() != s.rank)
        return invalidArgument("calibration file '", s.files[file_pos_], "' has shape ", dimsToString(f.dims()),
                               "; input '", s.name, "' has rank ", s.rank);
      if (file_samples >= 0 && d[0] != file_samples)
        return invalidArgument("calibration file '", s.files[file_pos_], "' holds ", d[0], " samples, other inputs ",
                               file_samples);
      file_samples = d[0];
      auto& dst = batch.inputs[s.name];
      if (dst.dims.empty()) dst.dims = d;
      else {
        for (size_t k = 1; k < d.size(); ++k)
          if (d[k] != dst.dims[k])
            return invalidArgument("calibration file '", s.files[file_pos_], "' has shape ", dimsToString(d),
                                   ", earlier files of input '", s.name, "' ", dimsToString(dst.dims));
        dst.dims[0] += d[0];
      }
      dst.data.insert(dst.data.end(), f.as<float>(), f.as<float>() + f.numel());
    }
    batch.samples += file_samples;
    samples_done_ += file_samples;
    ++file_pos_;
  }
  return batch.samples > 0;
}

}  // namespace qrt::quant
