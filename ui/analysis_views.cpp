#include "analysis_views.h"

#include "drift_view.h"
#include "efficiency_view.h"
#include "knockout_view.h"
#include "form_util.h"
#include "plot_util.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTabWidget>
#include <QTextBrowser>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <qcustomplot.h>

namespace mabert::ui {

namespace {

QString esc(const std::string& s) { return QString::fromStdString(s).toHtmlEscaped(); }

// A text ticker that labels integer positions with token pieces, thinned to ~max_labels in view.
void token_ticks(QCPAxis* axis, const std::vector<std::string>& tokens, int max_labels = 40) {
  auto ticker = QSharedPointer<QCPAxisTickerText>(new QCPAxisTickerText);
  const QCPRange r = axis->range();
  const int lo = std::max(0, static_cast<int>(std::floor(r.lower)));
  const int hi = std::min(static_cast<int>(tokens.size()) - 1, static_cast<int>(std::ceil(r.upper)));
  const int step = std::max(1, (hi - lo + 1 + max_labels - 1) / max_labels);
  for (int i = lo - lo % step; i <= hi; i += step) {
    if (i < 0) continue;
    QString t = QString::fromStdString(tokens[static_cast<size_t>(i)]);
    if (t.size() > 10) t = t.left(9) + "…";
    ticker->addTick(i, step > 1 ? QString("%1 %2").arg(i).arg(t) : t);
  }
  axis->setTicker(ticker);
}

QCPColorMap* make_color_map(QCustomPlot* plot, const QString& label) {
  auto* map = new QCPColorMap(plot->xAxis, plot->yAxis);
  auto* scale = new QCPColorScale(plot);
  plot->plotLayout()->addElement(plot->plotLayout()->rowCount() - 1, 1, scale);
  scale->setType(QCPAxis::atRight);
  scale->axis()->setLabel(label);
  map->setColorScale(scale);
  map->setGradient(QCPColorGradient::gpThermal);
  map->setInterpolate(false);
  auto* group = new QCPMarginGroup(plot);
  plot->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  scale->setMarginGroup(QCP::msBottom | QCP::msTop, group);
  return map;
}

void fill_combo(QComboBox* combo, const std::vector<int>& layers, const ModelConfig& cfg, const QString& none) {
  const QVariant keep = combo->currentData();
  combo->blockSignals(true);
  combo->clear();
  for (int i : layers)
    combo->addItem(QString("layer %1 (%2)").arg(i).arg(QChar(cfg.schedule[static_cast<size_t>(i)])), i);
  if (layers.empty()) combo->addItem(none, -1);
  const int idx = combo->findData(keep);
  combo->setCurrentIndex(idx >= 0 ? idx : 0);
  combo->blockSignals(false);
}

}  // namespace

// --- MAP -----------------------------------------------------------------------------------------

MapView::MapView(QWidget* parent) : QWidget(parent) {
  auto* v = column_with_help(
      this,
      "<b>Mask-aware attention pooling</b>: the sentence vector is a weighted sum of the tokens, "
      "α = softmax(score + mask). Pads get exactly 0 weight; darker = more weight.");
  notice_ = new QLabel;
  notice_->setObjectName("map_untrained");
  notice_->setWordWrap(true);
  notice_->setStyleSheet("background: #fff3cd; color: #664d03; border: 1px solid #ffe69c; padding: 6px;");
  notice_->hide();
  v->addWidget(notice_);
  prediction_ = new QLabel;
  prediction_->setObjectName("map_prediction");
  prediction_->setTextFormat(Qt::RichText);
  prediction_->hide();
  v->addWidget(prediction_);
  text_ = new QTextBrowser;
  text_->setMaximumHeight(120);
  text_->setObjectName("map_tokens");
  v->addWidget(text_);
  plot_ = make_plot(this, "MAP weight per token", "token", "α");
  v->addWidget(plot_, 1);
}

void MapView::setPoolingTrained(bool trained, const QString& why) {
  trained_ = trained;
  notice_->setText("<b>This pooling was never trained</b> — " + why +
                   " The weights below are its random initialisation, not what the model attends to; "
                   "load a fine-tuned run (History → Load for analysis) to see learned weights.");
  notice_->setVisible(!trained);
}

void MapView::setTask(const QString& task, const QStringList& class_names) {
  task_ = task;
  class_names_ = class_names;
}

namespace {

// "SST-2 prediction: positive 0.93 · negative 0.07" (classes by probability), or the score.
QString prediction_line(const QString& task, const QStringList& names, const analysis::Inspection& r) {
  QString line = "<b>" + (task.isEmpty() ? QString("Head") : task.toHtmlEscaped()) + " prediction:</b> ";
  if (r.regression) return line + QString("score %1").arg(r.head_outputs.at(0), 0, 'f', 3);
  std::vector<size_t> order(r.head_outputs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return r.head_outputs[x] > r.head_outputs[y]; });
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    const QString name = static_cast<qsizetype>(i) < names.size() ? names[static_cast<qsizetype>(i)].toHtmlEscaped() : QString("class %1").arg(i);
    const QString item = QString("%1 %2").arg(name).arg(r.head_outputs[i], 0, 'f', 2);
    line += (k ? " · " : "") + (k == 0 ? "<b>" + item + "</b>" : item);
  }
  return line;
}

// "mqar answers: ? at 21 → v17 0.98 · v3 0.01 …" (the MLM decoder's answer at each slot).
QString answers_line(const QString& task, const analysis::Inspection& r) {
  QString line = "<b>" + task.toHtmlEscaped() + " answers:</b>";
  for (const auto& a : r.answers) {
    line += QString(" &nbsp; ? at %1 →").arg(a.position);
    for (size_t k = 0; k < a.top.size(); ++k) {
      QString piece = QString::fromStdString(a.top[k].first).toHtmlEscaped();
      piece.remove(QChar(0x2581));
      const QString item = QString(" %1 %2").arg(piece).arg(a.top[k].second, 0, 'f', 2);
      line += k == 0 ? "<b>" + item + "</b>" : item;
    }
  }
  return line;
}

}  // namespace

void MapView::show(const analysis::Inspection& r) {
  prediction_->setVisible(!r.head_outputs.empty() || !r.answers.empty());
  if (!r.head_outputs.empty()) prediction_->setText(prediction_line(task_, class_names_, r));
  else if (!r.answers.empty()) prediction_->setText(answers_line(task_, r));
  double wmax = 1e-12;
  for (double w : r.pool_weights) wmax = std::max(wmax, w);
  QString html;
  for (size_t i = 0; i < r.tokens.size(); ++i) {
    const double w = r.pool_weights[i];
    const int a = static_cast<int>(std::round(230 * w / wmax));
    const QString fg = a > 140 ? "white" : "black";
    const QString style = r.valid[i] ? QString(trained_ ? "background: rgba(0,90,180,%1); color:%2;" : "background: rgba(120,120,120,%1); color:%2;").arg(a).arg(fg)
                                     : QString("background:#eee; color:#999; text-decoration: line-through;");
    html += QString("<span style='%1' title='%2'>&nbsp;%3&nbsp;</span> ")
                .arg(style)
                .arg(QString("α = %1").arg(w, 0, 'g', 4))
                .arg(esc(r.tokens[i]));
  }
  text_->setHtml("<div style='font-size: large; line-height: 160%;'>" + html + "</div>");

  plot_->clearPlottables();
  auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
  bars->setBrush(trained_ ? series_color(0) : QColor(170, 170, 170));
  bars->setPen(Qt::NoPen);
  auto* pads = new QCPBars(plot_->xAxis, plot_->yAxis);
  pads->setBrush(QColor(200, 200, 200));
  pads->setPen(QPen(Qt::gray));
  for (size_t i = 0; i < r.tokens.size(); ++i) (r.valid[i] ? bars : pads)->addData(static_cast<double>(i), r.pool_weights[i]);
  plot_->xAxis->setRange(-0.7, static_cast<double>(r.tokens.size()) - 0.3);
  token_ticks(plot_->xAxis, r.tokens);
  plot_->xAxis->setTickLabelRotation(60);
  plot_->yAxis->setRange(0, wmax * 1.1);
  replot_lazy(plot_);
}

// --- SSM -----------------------------------------------------------------------------------------

SsmView::SsmView(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  layer_ = new QComboBox;
  layer_->setToolTip("The Mamba (M, B or P) layer whose forward scan is traced.");
  channels_ = new QLineEdit;
  channels_->setPlaceholderText("e.g. 0, 5, 17");
  channels_->setToolTip("Channels drawn as lines (comma-separated). Empty: the four with the largest final state norm.");
  bar->addWidget(new QLabel("Layer"));
  bar->addWidget(layer_);
  bar->addWidget(new QLabel("Channels"));
  bar->addWidget(channels_, 1);
  v->addLayout(bar);
  v->addWidget(wrapped_label(
      "Each channel keeps a state h_t (N numbers) updated token by token: h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t. "
      "Large Δ_t means the token is written strongly into the state; on pads with state masking Δ_t = 0 and h stays put."));
  auto* grid = new QGridLayout;
  heat_plot_ = make_plot(this, "State norm ‖h_t‖ per channel", "token", "channel");
  heat_ = make_color_map(heat_plot_, "‖h‖");
  lines_plot_ = make_plot(this, "State norm of chosen channels", "token", "‖h_t‖");
  lines_plot_->legend->setVisible(true);
  path_plot_ = make_plot(this, "State path, 2-D projection (PCA)", "PC 1", "PC 2");
  delta_plot_ = make_plot(this, "Δ_t per token", "token", "Δ");
  delta_plot_->legend->setVisible(true);
  grid->addWidget(heat_plot_, 0, 0);
  grid->addWidget(lines_plot_, 0, 1);
  grid->addWidget(path_plot_, 1, 0);
  grid->addWidget(delta_plot_, 1, 1);
  v->addLayout(grid, 1);
  connect(layer_, &QComboBox::currentIndexChanged, this, [this] { emit layerChanged(); });
  connect(channels_, &QLineEdit::editingFinished, this, [this] { drawChannels(); });
}

void SsmView::setLayers(const std::vector<int>& layers, const ModelConfig& cfg) {
  fill_combo(layer_, layers, cfg, "(no SSM layer)");
}

int SsmView::layer() const { return layer_->currentData().isValid() ? layer_->currentData().toInt() : -1; }

void SsmView::show(const analysis::Inspection& r) {
  last_ = r;
  if (!r.state_norms.defined()) {
    for (auto* p : plots()) replot_lazy(p);
    return;
  }
  const int64_t L = r.state_norms.size(0), C = r.state_norms.size(1);
  auto norms = r.state_norms.accessor<float, 2>();
  heat_->data()->setSize(static_cast<int>(L), static_cast<int>(C));
  heat_->data()->setRange(QCPRange(0, static_cast<double>(L - 1)), QCPRange(0, static_cast<double>(C - 1)));
  for (int64_t t = 0; t < L; ++t)
    for (int64_t c = 0; c < C; ++c) heat_->data()->setCell(static_cast<int>(t), static_cast<int>(c), norms[t][c]);
  heat_->rescaleDataRange(true);
  heat_plot_->xAxis->setRange(-0.5, static_cast<double>(L) - 0.5);
  heat_plot_->yAxis->setRange(-0.5, static_cast<double>(C) - 0.5);
  token_ticks(heat_plot_->xAxis, r.tokens, 20);
  heat_plot_->xAxis->setTickLabelRotation(60);
  replot_lazy(heat_plot_);

  // Path: the projected trajectory, start and end marked, pads in grey.
  path_plot_->clearPlottables();
  path_plot_->clearItems();
  auto* curve = new QCPCurve(path_plot_->xAxis, path_plot_->yAxis);
  curve->setPen(QPen(series_color(0), 2));
  curve->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
  auto p = r.path2d.accessor<float, 2>();
  for (int64_t t = 0; t < L; ++t) {
    curve->addData(static_cast<double>(t), p[t][0], p[t][1]);
    if (t < 24 || t == L - 1) {
      auto* label = new QCPItemText(path_plot_);
      label->position->setCoords(p[t][0], p[t][1]);
      label->setPositionAlignment(Qt::AlignLeft | Qt::AlignBottom);
      label->setText(QString::fromStdString(r.tokens[static_cast<size_t>(t)]));
      label->setColor(r.valid[static_cast<size_t>(t)] ? Qt::black : Qt::gray);
      label->setFont(QFont(font().family(), std::max(6, font().pointSize() - 2)));
    }
  }
  if (r.path_variance.size() == 2) {
    path_plot_->xAxis->setLabel(QString("PC 1 (%1 % of variance)").arg(100 * r.path_variance[0], 0, 'f', 0));
    path_plot_->yAxis->setLabel(QString("PC 2 (%1 %)").arg(100 * r.path_variance[1], 0, 'f', 0));
  }
  path_plot_->rescaleAxes();
  path_plot_->xAxis->scaleRange(1.25);  // room for the token labels
  path_plot_->yAxis->scaleRange(1.25);
  replot_lazy(path_plot_);
  drawChannels();
}

void SsmView::drawChannels() {
  const auto& r = last_;
  if (!r.state_norms.defined()) return;
  const int64_t L = r.state_norms.size(0), C = r.state_norms.size(1);
  std::vector<int64_t> chosen;
  for (const auto& part : channels_->text().split(',', Qt::SkipEmptyParts)) {
    bool ok = false;
    const int c = part.trimmed().toInt(&ok);
    if (ok && c >= 0 && c < C) chosen.push_back(c);
  }
  if (chosen.empty()) chosen = r.top_channels;
  auto norms = r.state_norms.accessor<float, 2>();
  auto delta = r.delta.accessor<float, 2>();
  lines_plot_->clearGraphs();
  delta_plot_->clearGraphs();
  auto* mean = delta_plot_->addGraph();
  mean->setName("mean over channels");
  mean->setPen(QPen(Qt::black, 2));
  auto dmean = r.delta_mean.accessor<float, 1>();
  for (int64_t t = 0; t < L; ++t) mean->addData(static_cast<double>(t), dmean[t]);
  for (size_t k = 0; k < chosen.size(); ++k) {
    auto* g = lines_plot_->addGraph();
    g->setName(QString("channel %1").arg(chosen[k]));
    g->setPen(QPen(series_color(static_cast<int>(k)), 2));
    auto* d = delta_plot_->addGraph();
    d->setName(QString("channel %1").arg(chosen[k]));
    d->setPen(QPen(series_color(static_cast<int>(k)), 1));
    for (int64_t t = 0; t < L; ++t) {
      g->addData(static_cast<double>(t), norms[t][chosen[k]]);
      d->addData(static_cast<double>(t), delta[t][chosen[k]]);
    }
  }
  for (auto* plot : {lines_plot_, delta_plot_}) {
    plot->rescaleAxes();
    plot->xAxis->setRange(-0.5, static_cast<double>(L) - 0.5);
    token_ticks(plot->xAxis, r.tokens, 20);
    plot->xAxis->setTickLabelRotation(60);
    replot_lazy(plot);
  }
}

// --- attention -----------------------------------------------------------------------------------

AttentionView::AttentionView(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  auto* bar = new QHBoxLayout;
  layer_ = new QComboBox;
  layer_->setToolTip("A Transformer (T or P) layer.");
  head_ = new QComboBox;
  head_->setToolTip("One attention head, or the mean over heads.");
  bar->addWidget(new QLabel("Layer"));
  bar->addWidget(layer_);
  bar->addWidget(new QLabel("Head"));
  bar->addWidget(head_);
  bar->addStretch(1);
  bar->addWidget(new QLabel("Scroll to zoom, drag to pan; hover for the token pair."));
  v->addLayout(bar);
  plot_ = make_plot(this, "Attention probabilities (row: query, column: key)", "key token", "query token");
  map_ = make_color_map(plot_, "p");
  plot_->yAxis->setRangeReversed(true);
  plot_->setMouseTracking(true);
  v->addWidget(plot_, 1);
  connect(layer_, &QComboBox::currentIndexChanged, this, [this] { emit layerChanged(); });
  connect(head_, &QComboBox::currentIndexChanged, this, [this] { draw(); });
  connect(plot_->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, [this] { updateTicks(); });
  connect(plot_->yAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, [this] { updateTicks(); });
  connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    if (!last_.attention.defined()) return;
    const int L = static_cast<int>(last_.tokens.size());
    const int j = static_cast<int>(std::round(plot_->xAxis->pixelToCoord(e->position().x())));
    const int i = static_cast<int>(std::round(plot_->yAxis->pixelToCoord(e->position().y())));
    if (i < 0 || j < 0 || i >= L || j >= L) return QToolTip::hideText();
    QToolTip::showText(e->globalPosition().toPoint(),
                       QString("query %1 '%2' → key %3 '%4': p = %5")
                           .arg(i)
                           .arg(QString::fromStdString(last_.tokens[static_cast<size_t>(i)]))
                           .arg(j)
                           .arg(QString::fromStdString(last_.tokens[static_cast<size_t>(j)]))
                           .arg(map_->data()->cell(j, i), 0, 'g', 4),
                       plot_);
  });
}

void AttentionView::setLayers(const std::vector<int>& layers, const ModelConfig& cfg) {
  fill_combo(layer_, layers, cfg, "(no attention layer)");
  const int keep = head_->currentIndex();
  head_->blockSignals(true);
  head_->clear();
  head_->addItem("mean of heads", -1);
  for (int h = 0; h < cfg.n_heads; ++h) head_->addItem(QString("head %1").arg(h + 1), h);
  head_->setCurrentIndex(keep >= 0 && keep < head_->count() ? keep : 0);
  head_->blockSignals(false);
}

int AttentionView::layer() const { return layer_->currentData().isValid() ? layer_->currentData().toInt() : -1; }

void AttentionView::show(const analysis::Inspection& r) {
  last_ = r;
  draw();
}

void AttentionView::draw() {
  if (!last_.attention.defined()) {
    map_->data()->clear();
    replot_lazy(plot_);
    return;
  }
  const int h = head_->currentData().toInt();
  // Values only: the head mean was computed with the inspection, on the worker.
  const bool one_head = h >= 0 && h < last_.attention.size(0);
  const int L = static_cast<int>(last_.attention.size(1));
  const float* a = (one_head ? last_.attention.data_ptr<float>() + static_cast<int64_t>(h) * L * L
                             : last_.attention_mean.data_ptr<float>());
  map_->data()->setSize(L, L);
  map_->data()->setRange(QCPRange(0, L - 1), QCPRange(0, L - 1));
  float top = 1e-6f;
  for (int i = 0; i < L; ++i)
    for (int j = 0; j < L; ++j) {
      const float v = a[static_cast<int64_t>(i) * L + j];
      map_->data()->setCell(j, i, v);
      top = std::max(top, v);
    }
  map_->setDataRange(QCPRange(0, top));
  plot_->xAxis->setRange(-0.5, L - 0.5);
  plot_->yAxis->setRange(-0.5, L - 0.5);
  updateTicks();
  replot_lazy(plot_);
}

void AttentionView::updateTicks() {
  if (last_.tokens.empty()) return;
  token_ticks(plot_->xAxis, last_.tokens, 32);
  token_ticks(plot_->yAxis, last_.tokens, 32);
  plot_->xAxis->setTickLabelRotation(60);
}

// --- the panel -----------------------------------------------------------------------------------

AnalysisPanel::AnalysisPanel(QWidget* parent) : QWidget(parent) {
  auto* v = new QVBoxLayout(this);
  auto* form = new QFormLayout;
  sentence_ = new QLineEdit("The quiet river ran past the old mill, and nobody saw the boat.");
  sentence_->setObjectName("sentence");
  sentence_->setToolTip("Type a sentence: every view below updates for it.");
  pair_ = new QLineEdit;
  pair_->setPlaceholderText("(optional) second sentence of a pair");
  form->addRow("Sentence", sentence_);
  form->addRow("Pair", pair_);
  auto* row = new QHBoxLayout;
  pads_ = make_spin(0, 4096, 4, "Extra [PAD] tokens added, as in a padded batch: with MAP their weight is exactly 0.");
  left_ = new QCheckBox("pad on the left");
  model_label_ = new QLabel("no model loaded");
  model_label_->setObjectName("model_label");
  row->addWidget(new QLabel("Pads"));
  row->addWidget(pads_);
  row->addWidget(left_);
  row->addStretch(1);
  row->addWidget(model_label_);
  form->addRow(row);
  v->addLayout(form);
  notice_ = new QLabel;
  notice_->setObjectName("inspect_notice");
  notice_->setWordWrap(true);
  notice_->setStyleSheet("QLabel { color: #a04000; }");
  notice_->hide();
  v->addWidget(notice_);

  tabs_ = new QTabWidget;
  map_ = new MapView;
  ssm_ = new SsmView;
  attention_ = new AttentionView;
  drift_ = new DriftView;
  efficiency_ = new EfficiencyView;
  tabs_->addTab(map_, "MAP weights");
  tabs_->addTab(ssm_, "SSM states");
  tabs_->addTab(attention_, "Attention");
  tabs_->addTab(drift_, "Padding drift");
  tabs_->addTab(efficiency_, "Efficiency");
  knockout_ = new KnockOutView;
  tabs_->addTab(knockout_, "Knock-out");
  tabs_->setTabToolTip(0, "Which tokens the pooled sentence vector is made of.");
  tabs_->setTabToolTip(1, "How a Mamba layer's hidden state evolves along the sentence.");
  tabs_->setTabToolTip(2, "Where each token looks in a Transformer layer.");
  tabs_->setTabToolTip(3, "How much the representation moves when pads are added, per masking level.");
  tabs_->setTabToolTip(4, "Latency and memory against length, measured here.");
  v->addWidget(tabs_, 1);

  debounce_ = new QTimer(this);
  debounce_->setSingleShot(true);
  debounce_->setInterval(250);
  connect(debounce_, &QTimer::timeout, this, &AnalysisPanel::requestInspection);
  auto later = [this] { debounce_->start(); };
  connect(sentence_, &QLineEdit::textChanged, this, later);
  connect(pair_, &QLineEdit::textChanged, this, later);
  connect(pads_, &QSpinBox::valueChanged, this, later);
  connect(left_, &QCheckBox::toggled, this, later);
  connect(ssm_, &SsmView::layerChanged, this, later);
  connect(attention_, &AttentionView::layerChanged, this, later);
}

void AnalysisPanel::setModel(const ModelSource& source) {
  has_model_ = true;
  model_label_->setText("model: " + source.description);
  map_->setPoolingTrained(source.pooling_trained, source.run_dir.isEmpty()
                                                      ? QString("the model has random weights.")
                                                      : QString("this is a pretraining run, and MLM never trains the pooling's score layer (only fine-tuning does)."));
  map_->setTask(source.task, source.class_names);
  model_label_->setToolTip(QString::fromStdString(source.config.to_json().dump(2)));
  ssm_->setLayers(analysis::ssm_layers(source.config), source.config);
  attention_->setLayers(analysis::attention_layers(source.config), source.config);
  knockout_->setModel(source);
  answer_token_ = source.answer_token;
  if (!source.example.isEmpty()) {  // a recall run: a held-out example instead of a sentence
    const QSignalBlocker quiet(sentence_);
    sentence_->setText(source.example);
    pair_->clear();
  }
  requestInspection();
}

void AnalysisPanel::requestInspection() {
  if (!has_model_ || sentence_->text().trimmed().isEmpty()) return;
  analysis::InspectOptions o;
  o.pads = pads_->value();
  o.left_pad = left_->isChecked();
  o.ssm_layer = ssm_->layer();
  o.attention_layer = attention_->layer();
  o.answer_token = answer_token_;
  emit inspectRequested(sentence_->text(), pair_->text(), o, ++serial_);
}

void AnalysisPanel::inspectNow() {
  debounce_->stop();
  requestInspection();
}

void AnalysisPanel::onInspected(const analysis::Inspection& r, quint64 serial) {
  if (serial != serial_) return;  // a newer request is on its way
  if (r.truncated > 0) {
    notice_->setText(QString("The input is longer than the model's maximum of %1 tokens (with the pads): its last %2 "
                             "pieces are left out of every view below.")
                         .arg(r.max_len)
                         .arg(r.truncated));
    notice_->show();
  } else {
    notice_->hide();
  }
  map_->show(r);
  ssm_->show(r);
  attention_->show(r);
  emit inspectionShown(r, serial);
}

void AnalysisPanel::onInspectFailed(const QString& message) {
  notice_->setText("Could not inspect this input: " + message);
  notice_->show();
}

nlohmann::json AnalysisPanel::state() const {
  return {{"sentence", sentence_->text().toStdString()}, {"pair", pair_->text().toStdString()},
          {"pads", pads_->value()}, {"left_pad", left_->isChecked()}, {"tab", tabs_->currentIndex()}};
}

void AnalysisPanel::restore(const nlohmann::json& j) {
  if (j.contains("sentence") && j["sentence"].is_string()) sentence_->setText(QString::fromStdString(j["sentence"]));
  if (j.contains("pair") && j["pair"].is_string()) pair_->setText(QString::fromStdString(j["pair"]));
  if (j.contains("pads") && j["pads"].is_number_integer()) pads_->setValue(j["pads"].get<int>());
  if (j.contains("left_pad") && j["left_pad"].is_boolean()) left_->setChecked(j["left_pad"].get<bool>());
  if (j.contains("tab") && j["tab"].is_number_integer()) tabs_->setCurrentIndex(j["tab"].get<int>());
}

}  // namespace mabert::ui
