// The schedule composer: a palette of layer blocks (T, M, B, P) dragged into a stack, reordered
// by dragging, removed and duplicated; the paper's Table 1 schedules as presets; undo/redo of
// every edit; the schedule as editable text; PSM, pooling and width beside it; and a live
// parameter count and memory estimate per sequence length. Invalid designs are explained in
// place. The composer owns a ModelConfig; everything else reads it through config().
#pragma once

#include "model/config.h"

#include <QListWidget>
#include <QWidget>

class QCheckBox;
class QComboBox;
class QFormLayout;
class QGroupBox;
class QHBoxLayout;
class QLabel;
class QLineEdit;
class QSpinBox;
class QTableWidget;
class QUndoStack;
class QVBoxLayout;

namespace mabert::ui {

inline constexpr const char* kLayerMime = "application/x-mabert-layer";
// Drag payload: where it comes from ("palette" or "stack"), the layer letter, the source row.
QMimeData* layer_mime(const QString& origin, QChar kind, int row);

// The stack and the palette share one drop protocol; drops are turned into composer edits.
class LayerList : public QListWidget {
  Q_OBJECT
 public:
  LayerList(const QString& origin, QWidget* parent);
  QString origin() const { return origin_; }
  // What a drop at `pos` (viewport coordinates) does; dropEvent calls it. Returns false when
  // the payload is not a layer.
  bool handleDrop(const QMimeData* mime, const QPoint& pos);

 signals:
  void layerDropped(const QString& from, QChar kind, int from_row, int to_row);

 protected:
  QStringList mimeTypes() const override;
  QMimeData* mimeData(const QList<QListWidgetItem*>& items) const override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dragMoveEvent(QDragMoveEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  QString origin_;
};

class Composer : public QWidget {
  Q_OBJECT
 public:
  explicit Composer(QWidget* parent = nullptr);

  const ModelConfig& config() const { return cfg_; }
  QString schedule() const { return QString::fromStdString(cfg_.schedule); }
  bool valid() const { return error_.isEmpty(); }
  QString error() const { return error_; }
  QUndoStack* undoStack() const { return undo_; }
  LayerList* stack() const { return stack_; }
  LayerList* palette() const { return palette_; }
  QLineEdit* scheduleEdit() const { return text_; }

  // Each edit is one undoable step.
  void setConfig(const ModelConfig& cfg, const QString& what = "Set design");
  void insertLayer(int row, QChar kind);
  void moveLayer(int from, int to);
  void removeLayer(int row);
  void duplicateLayer(int row);
  // Returns false (and shows why beside the field) when the text is not a valid schedule.
  bool setScheduleText(const QString& text);

  // The paper's Table 1 schedules (12 layers) plus the demo design.
  static QStringList presetSchedules();

 signals:
  void configChanged(const mabert::ModelConfig& cfg);

 private:
  friend class ConfigCommand;
  // The constructor's parts, each building (and wiring) one area of the composer.
  QFormLayout* buildPresets();
  QHBoxLayout* buildBlocks();
  QHBoxLayout* buildEditButtons();
  void buildScheduleText(QVBoxLayout* root);
  QGroupBox* buildModelForm();
  void addBaselineFields(QFormLayout* form);
  void buildEstimates();
  void applySilently(const ModelConfig& cfg);  // used by undo/redo
  void pushEdit(ModelConfig next, const QString& what);
  void fromPanel();
  void refresh();

  ModelConfig cfg_;
  QString error_;
  bool updating_ = false;
  QUndoStack* undo_;
  LayerList *palette_, *stack_;
  QLineEdit* text_;
  QLabel *error_label_, *params_label_;
  QComboBox *preset_, *size_, *baseline_, *pooling_, *conv_, *position_;
  QCheckBox *psm_pre_, *psm_post_, *psm_state_, *share_, *token_shift_;
  QSpinBox *width_, *heads_, *state_, *vocab_, *max_len_;
  QSpinBox *embed_, *window_, *block_, *random_, *rel_;  // baseline options (ALBERT, L, S, D)
  class QFormLayout* form_ = nullptr;
  class QHBoxLayout* sparse_row_ = nullptr;  // block size and random blocks (S)
  QTableWidget* memory_;
};

}  // namespace mabert::ui
