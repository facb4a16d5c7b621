// Built-in calibrators over data on disk: a folder of images (preprocessed per a spec) or .npy
// tensors (one sample per file, or batch files), for one or several model inputs. Both read and
// write an optional cache file in TensorRT's format.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "data/preprocess.h"
#include "qrt/calibrator.h"

namespace qrt::quant {

struct DataCalibratorOptions {
  CalibrationAlgo algo = CalibrationAlgo::kEntropy2;
  int batch_size = 32;
  int max_samples = 0;      // 0: all
  double percentile = 99.99;
  std::string cache_path;   // "" for none
};

// Base with the cache-file behaviour shared by the data calibrators.
class FileCacheCalibrator : public Calibrator {
 public:
  explicit FileCacheCalibrator(DataCalibratorOptions o) : opts_(std::move(o)) {}
  CalibrationAlgo algorithm() const override { return opts_.algo; }
  double percentile() const override { return opts_.percentile; }
  std::optional<std::string> readCache() override;
  Status writeCache(const std::string& cache) override;
  const std::string& cachePath() const { return opts_.cache_path; }

 protected:
  DataCalibratorOptions opts_;
};

// Images from a folder (sorted order) into the single image input `input_name`.
class ImageFolderCalibrator : public FileCacheCalibrator {
 public:
  static Result<std::unique_ptr<ImageFolderCalibrator>> create(const std::string& dir, const std::string& input_name,
                                                               const PreprocessSpec& spec, DataCalibratorOptions opts);
  Result<bool> getBatch(CalibrationBatch& batch) override;
  Status reset() override;
  int64_t numSamples() const override { return static_cast<int64_t>(paths_.size()); }
  size_t numImages() const { return paths_.size(); }
  size_t skipped() const { return loader_ ? loader_->skipped() : 0; }

 private:
  ImageFolderCalibrator(std::vector<std::string> paths, std::string input, PreprocessSpec spec,
                        DataCalibratorOptions opts);
  std::vector<std::string> paths_;
  std::string input_;
  PreprocessSpec spec_;
  std::unique_ptr<ImageBatchLoader> loader_;
};

// No data, only a cache file (qrt build --int8 --calib-cache FILE without --calib-dir): the build
// succeeds when the cache matches the model; otherwise getBatch fails, saying so.
class CacheOnlyCalibrator : public FileCacheCalibrator {
 public:
  explicit CacheOnlyCalibrator(DataCalibratorOptions opts) : FileCacheCalibrator(std::move(opts)) {}
  Result<bool> getBatch(CalibrationBatch& batch) override;
  Status reset() override { return Status::Ok(); }
};

// .npy tensors: for each input, a folder (or a single file). Files in a folder are taken in sorted
// order; a file whose leading dim equals the model's batch... is taken as-is: every file is one
// sample when its rank is the model input's rank minus one, else a batch along dim 0.
class NpyCalibrator : public FileCacheCalibrator {
 public:
  // inputs: (input name, folder or .npy file) pairs; input_ranks: the model inputs' ranks.
  static Result<std::unique_ptr<NpyCalibrator>> create(const std::vector<std::pair<std::string, std::string>>& inputs,
                                                       const std::map<std::string, size_t>& input_ranks,
                                                       DataCalibratorOptions opts);
  Result<bool> getBatch(CalibrationBatch& batch) override;
  Status reset() override;

 private:
  struct Source {
    std::string name;
    std::vector<std::string> files;
    size_t rank = 0;
  };
  explicit NpyCalibrator(DataCalibratorOptions opts) : FileCacheCalibrator(std::move(opts)) {}
  std::vector<Source> sources_;
  size_t file_pos_ = 0;
  int64_t samples_done_ = 0;
};

}  // namespace qrt::quant
