// Image folders as data sources: a flat (or nested) folder of images for calibration, and a
// folder of class folders (DIR/<class>/*.jpg, class index = sorted folder order, as torchvision's
// ImageFolder) for evaluation; plus a loader that decodes and preprocesses them in parallel into
// float batches.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "data/preprocess.h"
#include "qrt/status.h"

namespace qrt {

// True for .jpg, .jpeg and .png in any letter case.
bool hasImageExtension(const std::string& path);

// The image files in `dir` (and below it when `recursive`), sorted by path. Hidden entries
// (leading '.') are skipped. A missing folder or a folder with no images is an error naming it.
Result<std::vector<std::string>> listImageFiles(const std::string& dir, bool recursive);

struct LabeledImages {
  std::vector<std::string> classes;  // class folder names, sorted; label i is classes[i]
  std::vector<std::string> paths;    // grouped by class, sorted within each
  std::vector<int> labels;           // one per path
};

// DIR/<class>/... : every subfolder is a class (even one without images, so indices stay those
// of the sorted folder list); the images below each are found recursively.
Result<LabeledImages> listClassFolders(const std::string& dir);

struct ImageBatch {
  HostTensor tensor;            // float [n, C, H, W] or [n, H, W, C]; n may be below the batch size
  std::vector<size_t> indices;  // for each row, its position in the loader's path list
};

// Yields the images of a path list as preprocessed batches, in order. Files that cannot be read
// or decoded are skipped with a one-line warning on stderr and counted; if none can be read,
// next() fails with the first file's error. With a spec that keeps image sizes (no resize), all
// images must share the first one's size.
class ImageBatchLoader {
 public:
  ImageBatchLoader(std::vector<std::string> paths, PreprocessSpec spec, int batch_size);

  // Fills `batch` with the next images and returns true, or returns false when the paths are
  // exhausted. Decoding runs on qrt's thread pool.
  Result<bool> next(ImageBatch* batch);

  size_t size() const { return paths_.size(); }
  size_t loaded() const { return loaded_; }
  size_t skipped() const { return skipped_; }
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  std::vector<std::string> paths_;
  PreprocessSpec spec_;
  int batch_size_;
  size_t pos_ = 0, loaded_ = 0, skipped_ = 0;
  int height_ = 0, width_ = 0;  // output size, known from the spec or the first image
  Status first_error_;
};

}  // namespace qrt
