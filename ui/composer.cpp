#include "composer.h"

#include "analysis/efficiency.h"
#include "form_util.h"
#include "plot_util.h"

#include <nlohmann/json.hpp>

#include <QCheckBox>
#include <QComboBox>
#include <QDataStream>
#include <QDragEnterEvent>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMimeData>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QUndoStack>
#include <QVBoxLayout>

namespace mabert::ui {

namespace {

struct KindInfo {
  QChar letter;
  const char* name;
  const char* tip;
  QColor color;
};
const KindInfo kKinds[] = {
    {'T', "Transformer", "Transformer layer (Pre-LN): multi-head self-attention over all tokens, pad keys masked,\n"
                         "then a feed-forward block. Global mixing; cost grows with length².", QColor(0xF4, 0xC4, 0x8E)},
    {'M', "Mamba", "Mamba layer (Pre-LN): a selective state-space scan left to right. Each token updates a small\n"
                   "state h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t; cost grows linearly with length.", QColor(0x9E, 0xCA, 0xE9)},
    {'B', "Bi-Mamba", "Bidirectional Mamba: the same input scanned forward and in reverse, the two outputs summed.\n"
                      "Lets every token see the whole sentence without attention.", QColor(0xA8, 0xDD, 0xB5)},
    {'P', "Parallel", "Parallel hybrid: attention and a Mamba scan read the same normalised input; their outputs\n"
                      "are averaged before one feed-forward block.", QColor(0xD7, 0xB5, 0xE3)},
    {'L', "Longformer", "Longformer attention: each token sees a sliding window of neighbours (Window) plus the\n"
                        "[CLS] token, which sees everything. Memory grows linearly with length.", QColor(0xF2, 0xA6, 0xA6)},
    {'S', "BigBird", "BigBird block-sparse attention: blocks see their neighbours, the first and last (global)\n"
                     "blocks and a few random blocks. Memory grows linearly with length.", QColor(0xE8, 0xD8, 0x8C)},
    {'D', "DeBERTa", "DeBERTa disentangled attention: content-to-content plus content-to-position and\n"
                     "position-to-content terms over relative distances (Rel. range). Cost grows with length².",
     QColor(0xB8, 0xC4, 0xE8)},
};

const KindInfo& kind_info(QChar c) {
  for (const auto& k : kKinds)
    if (k.letter == c) return k;
  return kKinds[0];
}

QString human_bytes(double b) {
  const char* unit[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1024 && u < 4) b /= 1024, ++u;
  return QString::number(b, 'f', b < 10 ? 2 : 1) + " " + unit[u];
}

}  // namespace

QMimeData* layer_mime(const QString& origin, QChar kind, int row) {
  QByteArray data;
  QDataStream s(&data, QIODevice::WriteOnly);
  s << origin << kind << row;
  auto* m = new QMimeData;
  m->setData(kLayerMime, data);
  m->setText(QString(kind));
  return m;
}

// --- LayerList ---------------------------------------------------------------------------------

LayerList::LayerList(const QString& origin, QWidget* parent) : QListWidget(parent), origin_(origin) {
  setDragEnabled(true);
  setAcceptDrops(true);
  viewport()->setAcceptDrops(true);
  setDropIndicatorShown(true);
  setDragDropMode(QAbstractItemView::DragDrop);
  setDefaultDropAction(Qt::CopyAction);
  setSelectionMode(QAbstractItemView::SingleSelection);
}

QStringList LayerList::mimeTypes() const { return {kLayerMime}; }

QMimeData* LayerList::mimeData(const QList<QListWidgetItem*>& items) const {
  if (items.isEmpty()) return nullptr;
  return layer_mime(origin_, items.first()->data(Qt::UserRole).toChar(), row(items.first()));
}

void LayerList::dragEnterEvent(QDragEnterEvent* e) {
  if (e->mimeData()->hasFormat(kLayerMime)) e->acceptProposedAction();
  else e->ignore();
}

void LayerList::dragMoveEvent(QDragMoveEvent* e) {
  if (e->mimeData()->hasFormat(kLayerMime)) {
    e->setDropAction(Qt::CopyAction);
    e->accept();
  } else {
    e->ignore();
  }
}

void LayerList::dropEvent(QDropEvent* e) {
  if (!handleDrop(e->mimeData(), e->position().toPoint())) return e->ignore();
  // Copy, never Move: the composer rebuilds the list itself, Qt must not delete the source item.
  e->setDropAction(Qt::CopyAction);
  e->accept();
}

bool LayerList::handleDrop(const QMimeData* mime, const QPoint& pos) {
  if (!mime || !mime->hasFormat(kLayerMime)) return false;
  QDataStream s(mime->data(kLayerMime));
  QString from;
  QChar kind;
  int from_row = -1;
  s >> from >> kind >> from_row;
  if (s.status() != QDataStream::Ok) return false;
  int to_row = indexAt(pos).row();
  if (to_row < 0) to_row = count();
  emit layerDropped(from, kind, from_row, to_row);
  return true;
}

// --- undo ----------------------------------------------------------------------------------------

class ConfigCommand : public QUndoCommand {
 public:
  ConfigCommand(Composer* c, ModelConfig before, ModelConfig after, const QString& text)
      : QUndoCommand(text), c_(c), before_(std::move(before)), after_(std::move(after)) {}
  void undo() override { c_->applySilently(before_); }
  void redo() override { c_->applySilently(after_); }

 private:
  Composer* c_;
  ModelConfig before_, after_;
};

// --- Composer ------------------------------------------------------------------------------------

QStringList Composer::presetSchedules() {
  return {"MMTMMTMMTMMT", "TTTTTTTTTTTT", "MMMMMMMMMMMM", "MTMTMTMTMTMT", "TMTMTMTMTMTM",
          "TMMTMMTMMTMM", "MTTMTTMTTMTT", "TTMTTMTTMTTM", "MMTMMT"};
}

Composer::Composer(QWidget* parent) : QWidget(parent), undo_(new QUndoStack(this)) {
  cfg_ = ModelConfig::preset("tiny");
  cfg_.vocab_size = 2000;
  cfg_.max_len = 512;
  auto* root = new QVBoxLayout(this);
  root->addLayout(buildPresets());
  root->addLayout(buildBlocks(), 1);
  root->addLayout(buildEditButtons());
  buildScheduleText(root);
  root->addWidget(buildModelForm());
  buildEstimates();
  root->addWidget(params_label_);
  root->addWidget(memory_);
  refresh();
}

// Presets, size and the paper's baselines.
QFormLayout* Composer::buildPresets() {
  auto* top = new QFormLayout;
  preset_ = new QComboBox;
  preset_->addItem("— choose a schedule —");
  for (const auto& s : presetSchedules()) preset_->addItem(s == "MMTMMT" ? s + "  (demo, 6 layers)" : s, s);
  preset_->setToolTip("The eight 12-layer schedules of the paper's Table 1 (MMTMMTMMTMMT was best),\nplus the 6-layer demo design.");
  top->addRow("Preset", preset_);
  size_ = new QComboBox;
  for (const char* s : {"tiny", "small", "base"}) size_->addItem(s);
  size_->setToolTip("Model size: sets width, heads, FFN width and maximum length; keeps the schedule.");
  top->addRow("Size", size_);
  baseline_ = new QComboBox;
  baseline_->setObjectName("baseline");
  baseline_->addItem("— the paper's baselines —");
  for (const auto& f : ModelConfig::baseline_families()) baseline_->addItem(QString::fromStdString(f), QString::fromStdString(f));
  baseline_->setToolTip("Replace the design by a baseline encoder at the chosen size (BERT, ALBERT, Longformer,\n"
                        "BigBird, DeBERTa): schedule, pooling, PSM and their options. Vocabulary and max length stay.");
  top->addRow("Baseline", baseline_);
  connect(preset_, &QComboBox::activated, this, [this](int i) {
    if (i <= 0) return;
    ModelConfig c = cfg_;
    c.schedule = preset_->itemData(i).toString().toStdString();
    pushEdit(c, "Preset " + preset_->itemData(i).toString());
  });
  connect(baseline_, &QComboBox::activated, this, [this](int i) {
    if (i <= 0) return;
    ModelConfig c = ModelConfig::preset(baseline_->itemData(i).toString().toStdString() + "-" + size_->currentText().toStdString());
    c.vocab_size = cfg_.vocab_size, c.max_len = cfg_.max_len;
    pushEdit(c, "Baseline " + baseline_->itemText(i));
  });
  connect(size_, &QComboBox::activated, this, [this](int) {
    ModelConfig p = ModelConfig::preset(size_->currentText().toStdString());
    ModelConfig c = cfg_;
    c.d_model = p.d_model, c.n_heads = p.n_heads, c.d_ffn = p.d_ffn, c.max_len = p.max_len;
    pushEdit(c, "Size " + size_->currentText());
  });
  return top;
}

// The palette and the stack, with drag and drop between them.
QHBoxLayout* Composer::buildBlocks() {
  auto* blocks = new QHBoxLayout;
  palette_ = new LayerList("palette", this);
  palette_->setObjectName("palette");
  palette_->setMaximumWidth(120);
  for (const auto& k : kKinds) {
    auto* it = new QListWidgetItem(QString("%1  %2").arg(k.letter).arg(k.name), palette_);
    it->setData(Qt::UserRole, k.letter);
    it->setBackground(k.color);
    it->setToolTip(k.tip);
  }
  palette_->setToolTip("Drag a block into the stack (or double-click to append). Drop a stack layer here to remove it.");
  stack_ = new LayerList("stack", this);
  stack_->setObjectName("stack");
  stack_->setToolTip("The layer schedule, input at the top. Drag to reorder.");
  auto* pcol = new QVBoxLayout;
  pcol->addWidget(new QLabel("Palette"));
  pcol->addWidget(palette_);
  auto* scol = new QVBoxLayout;
  scol->addWidget(new QLabel("Stack (input → output)"));
  scol->addWidget(stack_);
  blocks->addLayout(pcol);
  blocks->addLayout(scol, 1);
  connect(palette_, &QListWidget::itemDoubleClicked, this,
          [this](QListWidgetItem* it) { insertLayer(stack_->count(), it->data(Qt::UserRole).toChar()); });
  connect(stack_, &LayerList::layerDropped, this, [this](const QString& from, QChar kind, int from_row, int to_row) {
    if (from == "palette") insertLayer(to_row, kind);
    else moveLayer(from_row, to_row);
  });
  connect(palette_, &LayerList::layerDropped, this, [this](const QString& from, QChar, int from_row, int) {
    if (from == "stack") removeLayer(from_row);
  });
  return blocks;
}

QHBoxLayout* Composer::buildEditButtons() {
  auto* buttons = new QHBoxLayout;
  auto* remove = new QPushButton("Remove");
  auto* dup = new QPushButton("Duplicate");
  auto* undo = new QPushButton("Undo");
  auto* redo = new QPushButton("Redo");
  for (auto* b : {remove, dup, undo, redo}) buttons->addWidget(b);
  connect(remove, &QPushButton::clicked, this, [this] { removeLayer(stack_->currentRow()); });
  connect(dup, &QPushButton::clicked, this, [this] { duplicateLayer(stack_->currentRow()); });
  connect(undo, &QPushButton::clicked, undo_, &QUndoStack::undo);
  connect(redo, &QPushButton::clicked, undo_, &QUndoStack::redo);
  connect(undo_, &QUndoStack::canUndoChanged, undo, &QWidget::setEnabled);
  connect(undo_, &QUndoStack::canRedoChanged, redo, &QWidget::setEnabled);
  undo->setEnabled(false);
  redo->setEnabled(false);
  return buttons;
}

// The schedule as text, and the line that says what is wrong with it.
void Composer::buildScheduleText(QVBoxLayout* root) {
  text_ = new QLineEdit;
  text_->setObjectName("schedule");
  text_->setToolTip("The schedule as text: one letter per layer, T M B P L S D. Press Enter to apply.");
  root->addWidget(new QLabel("Schedule"));
  root->addWidget(text_);
  error_label_ = new QLabel;
  error_label_->setWordWrap(true);
  error_label_->setStyleSheet("color: #b00020;");
  root->addWidget(error_label_);
  connect(text_, &QLineEdit::returnPressed, this, [this] { setScheduleText(text_->text()); });
  connect(text_, &QLineEdit::textEdited, this, [this](const QString& t) {
    try {
      parse_schedule(t.toStdString(), cfg_.max_layers);
      text_->setStyleSheet("");
      error_label_->setText(error_);
    } catch (const ConfigError& e) {
      text_->setStyleSheet("border: 2px solid #b00020;");
      error_label_->setText(QString::fromStdString(e.what()));
    }
  });
}

// The model's options; each change becomes an undoable edit (fromPanel).
QGroupBox* Composer::buildModelForm() {
  auto* box = new QGroupBox("Model");
  auto* form = new QFormLayout(box);
  form_ = form;
  form->setObjectName("modelForm");
  psm_pre_ = new QCheckBox("pre-SSM (LN(H) ⊙ m)");
  psm_post_ = new QCheckBox("post-block (H'' ⊙ m)");
  psm_state_ = new QCheckBox("state (Δ := 0 on pads)");
  psm_pre_->setToolTip("Padding-safe masking, level 1: zero pad positions before the SSM reads them.");
  psm_post_->setToolTip("Level 2: zero pad positions after each Mamba block, so pads never carry values forward.");
  psm_state_->setToolTip("Level 3: a pad is an identity step of the scan — the state passes through unchanged.\n"
                         "With all three on, adding pads changes nothing (the drift view shows it).");
  auto* psm = new QVBoxLayout;
  for (auto* c : {psm_pre_, psm_post_, psm_state_}) psm->addWidget(c);
  form->addRow("PSM", psm);
  pooling_ = new QComboBox;
  for (const char* p : {"map", "attn", "cls", "mean", "masked_mean"}) pooling_->addItem(p);
  pooling_->setToolTip("How one vector is made from the tokens. map: mask-aware attention pooling (pads get weight 0);\n"
                       "attn: the same without the mask; cls: the first token; mean / masked_mean: averages.");
  form->addRow("Pooling", pooling_);
  conv_ = new QComboBox;
  conv_->setObjectName("conv");
  for (const char* c : {"causal", "centred"}) conv_->addItem(c);
  conv_->setToolTip("The SSM's depth-wise convolution. causal: looks back only (right padding never reaches a valid token);\n"
                    "centred: looks both ways, so end padding leaks into the last valid tokens unless PSM masks it.");
  form->addRow("Convolution", conv_);
  width_ = make_spin(32, 2048, std::nullopt, "Model width d (hidden size).");
  width_->setSingleStep(32);
  form->addRow("Width d", width_);
  heads_ = make_spin(1, 64);
  form->addRow("Heads", heads_);
  state_ = make_spin(1, 256, std::nullopt, "SSM state size N per channel.");
  form->addRow("State N", state_);
  vocab_ = make_spin(16, 1000000, std::nullopt, "Vocabulary size (set from the tokenizer when training).");
  form->addRow("Vocabulary", vocab_);
  position_ = new QComboBox;
  position_->setObjectName("position");
  for (const char* p : {"learned", "none"}) position_->addItem(p);
  position_->setToolTip("Absolute positions. learned: a learned vector per position is added to each token (BERT);\n"
                        "none: order comes from the scan layers (M, B, P) and the token shift only.\n"
                        "On recall tasks learned positions keep hybrids on a plateau (docs/results/recall.md).");
  token_shift_ = new QCheckBox("token shift");
  token_shift_->setObjectName("tokenShift");
  token_shift_->setToolTip("Each position adds a learned linear map of the previous token's embedding (pads add nothing):\n"
                           "the previous-token signal attention needs to look a key up (the recall recipe has it on).");
  auto* order = new QHBoxLayout;
  order->addWidget(position_);
  order->addWidget(token_shift_);
  form->addRow("Positions", order);
  max_len_ = make_spin(8, 65536, std::nullopt, "Maximum sequence length (learned positions).");
  form->addRow("Max length", max_len_);
  addBaselineFields(form);
  for (auto* cb : {psm_pre_, psm_post_, psm_state_, share_, token_shift_}) connect(cb, &QCheckBox::toggled, this, [this] { fromPanel(); });
  connect(pooling_, &QComboBox::currentIndexChanged, this, [this] { fromPanel(); });
  connect(conv_, &QComboBox::currentIndexChanged, this, [this] { fromPanel(); });
  connect(position_, &QComboBox::currentIndexChanged, this, [this] { fromPanel(); });
  for (auto* sp : {width_, heads_, state_, vocab_, max_len_, embed_, window_, block_, random_, rel_})
    connect(sp, &QSpinBox::editingFinished, this, [this] { fromPanel(); });
  return box;
}

// The options only baselines use: ALBERT's embedding width and sharing, L's window, S's blocks, D's range.
void Composer::addBaselineFields(QFormLayout* form) {
  embed_ = make_spin(0, 4096, std::nullopt,
                     "ALBERT's factorised embeddings: tokens live in this smaller width and are projected to d.\n0 = the model width.");
  embed_->setSpecialValueText("= width");
  share_ = new QCheckBox("share layers");
  share_->setToolTip("ALBERT's cross-layer sharing: every layer of one letter reuses one set of weights.");
  auto* albert = new QHBoxLayout;
  albert->addWidget(embed_);
  albert->addWidget(share_);
  form->addRow("Embedding", albert);
  window_ = make_spin(2, 65536, std::nullopt, "L layers: tokens in the sliding window (half on each side).");
  window_->setSingleStep(2);
  form->addRow("Window (L)", window_);
  auto* sparse = new QHBoxLayout;
  sparse_row_ = sparse;
  block_ = make_spin(1, 4096, std::nullopt, "S layers: block size in tokens.");
  random_ = make_spin(0, 64, std::nullopt, "S layers: random key blocks per query block.");
  sparse->addWidget(block_);
  sparse->addWidget(new QLabel("random"));
  sparse->addWidget(random_);
  form->addRow("Block (S)", sparse);
  rel_ = make_spin(1, 65536, std::nullopt, "D layers: relative distances are clipped to ± this range.");
  form->addRow("Rel. range (D)", rel_);
}

// The parameter count and the analytic memory table.
void Composer::buildEstimates() {
  params_label_ = new QLabel;
  params_label_->setObjectName("params");
  memory_ = new QTableWidget;
  memory_->setObjectName("memory");
  memory_->setToolTip("Analytic memory estimate at batch 1 (fp32), before anything runs.\nThe efficiency view measures the real numbers.");
  memory_->verticalHeader()->hide();
  memory_->setMaximumHeight(190);
  add_table_export(memory_);

}

void Composer::applySilently(const ModelConfig& cfg) {
  cfg_ = cfg;
  refresh();
  emit configChanged(cfg_);
}

void Composer::pushEdit(ModelConfig next, const QString& what) {
  if (next.to_json() == cfg_.to_json()) return;
  undo_->push(new ConfigCommand(this, cfg_, std::move(next), what));  // push() runs redo()
}

void Composer::setConfig(const ModelConfig& cfg, const QString& what) { pushEdit(cfg, what); }

void Composer::insertLayer(int row, QChar kind) {
  std::string s = cfg_.schedule;
  row = std::clamp(row, 0, static_cast<int>(s.size()));
  s.insert(s.begin() + row, static_cast<char>(kind.toLatin1()));
  ModelConfig c = cfg_;
  c.schedule = s;
  pushEdit(c, QString("Insert %1").arg(kind));
}

void Composer::moveLayer(int from, int to) {
  std::string s = cfg_.schedule;
  const int n = static_cast<int>(s.size());
  if (from < 0 || from >= n) return;
  to = std::clamp(to, 0, n);
  const char k = s[static_cast<size_t>(from)];
  s.erase(s.begin() + from);
  if (to > from) --to;  // the drop row counted the item being moved
  s.insert(s.begin() + to, k);
  ModelConfig c = cfg_;
  c.schedule = s;
  pushEdit(c, QString("Move layer %1 to %2").arg(from + 1).arg(to + 1));
}

void Composer::removeLayer(int row) {
  if (row < 0 || row >= static_cast<int>(cfg_.schedule.size())) return;
  ModelConfig c = cfg_;
  c.schedule.erase(c.schedule.begin() + row);
  pushEdit(c, QString("Remove layer %1").arg(row + 1));
}

void Composer::duplicateLayer(int row) {
  if (row < 0 || row >= static_cast<int>(cfg_.schedule.size())) return;
  ModelConfig c = cfg_;
  c.schedule.insert(c.schedule.begin() + row, c.schedule[static_cast<size_t>(row)]);
  pushEdit(c, QString("Duplicate layer %1").arg(row + 1));
}

bool Composer::setScheduleText(const QString& text) {
  const std::string s = text.trimmed().toUpper().toStdString();
  try {
    parse_schedule(s, cfg_.max_layers);
  } catch (const ConfigError& e) {
    text_->setStyleSheet("border: 2px solid #b00020;");
    error_label_->setText(QString::fromStdString(e.what()));
    return false;
  }
  ModelConfig c = cfg_;
  c.schedule = s;
  pushEdit(c, "Edit schedule text");
  refresh();  // also clears a stale error when the text equals the current schedule
  return true;
}

void Composer::fromPanel() {
  if (updating_) return;
  ModelConfig c = cfg_;
  c.psm_pre = psm_pre_->isChecked(), c.psm_post = psm_post_->isChecked(), c.psm_state = psm_state_->isChecked();
  c.pooling = parse_pooling(pooling_->currentText().toStdString());
  c.conv = conv_->currentText().toStdString();
  c.d_model = width_->value(), c.n_heads = heads_->value(), c.d_state = state_->value();
  c.vocab_size = vocab_->value(), c.max_len = max_len_->value();
  c.embed_dim = embed_->value(), c.share_layers = share_->isChecked();
  c.position = position_->currentText().toStdString(), c.token_shift = token_shift_->isChecked();
  c.attn_window = window_->value(), c.sparse_block = block_->value(), c.sparse_random = random_->value();
  c.rel_range = rel_->value();
  if (c.d_model != cfg_.d_model) c.d_ffn = 4 * c.d_model;  // keep the usual FFN ratio
  pushEdit(c, "Edit model settings");
}

void Composer::refresh() {
  updating_ = true;
  // The stack mirrors the schedule.
  const int current = stack_->currentRow();
  stack_->clear();
  for (size_t i = 0; i < cfg_.schedule.size(); ++i) {
    const QChar k = QChar(cfg_.schedule[i]);
    const KindInfo& info = kind_info(k);
    auto* it = new QListWidgetItem(QString("%1   %2  %3").arg(i, 2).arg(k).arg(info.name), stack_);
    it->setData(Qt::UserRole, k);
    it->setBackground(info.color);
    it->setToolTip(info.tip);
  }
  if (current >= 0) stack_->setCurrentRow(std::min(current, stack_->count() - 1));
  text_->setText(schedule());
  text_->setStyleSheet("");
  psm_pre_->setChecked(cfg_.psm_pre);
  psm_post_->setChecked(cfg_.psm_post);
  psm_state_->setChecked(cfg_.psm_state);
  pooling_->setCurrentText(QString::fromUtf8(to_string(cfg_.pooling)));
  conv_->setCurrentText(QString::fromStdString(cfg_.conv));
  width_->setValue(static_cast<int>(cfg_.d_model));
  heads_->setValue(static_cast<int>(cfg_.n_heads));
  state_->setValue(static_cast<int>(cfg_.d_state));
  vocab_->setValue(static_cast<int>(cfg_.vocab_size));
  max_len_->setValue(static_cast<int>(cfg_.max_len));
  embed_->setValue(static_cast<int>(cfg_.embed_dim));
  share_->setChecked(cfg_.share_layers);
  position_->setCurrentText(QString::fromStdString(cfg_.position));
  token_shift_->setChecked(cfg_.token_shift);
  window_->setValue(static_cast<int>(cfg_.attn_window));
  block_->setValue(static_cast<int>(cfg_.sparse_block));
  random_->setValue(static_cast<int>(cfg_.sparse_random));
  rel_->setValue(static_cast<int>(cfg_.rel_range));
  baseline_->setCurrentIndex(0);
  // Each attention variant's options only while the schedule uses its letter.
  form_->setRowVisible(window_, cfg_.schedule.find('L') != std::string::npos);
  form_->setRowVisible(sparse_row_, cfg_.schedule.find('S') != std::string::npos);
  form_->setRowVisible(rel_, cfg_.schedule.find('D') != std::string::npos);
  const int pi = preset_->findData(schedule());
  preset_->setCurrentIndex(pi > 0 ? pi : 0);
  updating_ = false;

  // Validity, parameters and the memory estimate.
  try {
    cfg_.validate("design");
    error_.clear();
  } catch (const std::exception& e) {
    error_ = QString::fromStdString(e.what());
  }
  error_label_->setText(error_);
  if (!error_.isEmpty()) {
    params_label_->setText("Parameters: — (invalid design)");
    memory_->setRowCount(0);
    return;
  }
  const double params = static_cast<double>(analysis::estimate_parameters(cfg_));
  params_label_->setText(QString("Parameters: <b>%1 M</b> (%2 layers; vocabulary %3)")
                             .arg(params / 1e6, 0, 'f', 2)
                             .arg(cfg_.schedule.size())
                             .arg(cfg_.vocab_size));
  QVector<QStringList> rows;
  for (int64_t L : {128, 512, 1024, 2048, 4096}) {
    if (L > cfg_.max_len && cfg_.position == "learned") continue;
    rows.push_back({QString::number(L), human_bytes(static_cast<double>(analysis::estimate_memory_bytes(cfg_, L, false))),
                    human_bytes(static_cast<double>(analysis::estimate_memory_bytes(cfg_, L, true)))});
  }
  fill_table(memory_, {"length", "inference (est.)", "training (est.)"}, rows);
}

}  // namespace mabert::ui
