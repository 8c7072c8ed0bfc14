#include "knockout_view.h"

#include "form_util.h"
#include "plot_util.h"

#include <qcustomplot.h>

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>

namespace mabert::ui {

KnockOutView::KnockOutView(QWidget* parent) : QWidget(parent) {
  auto* v = column_with_help(
      this,
      "Switch a layer off (its block passes its input through unchanged) and watch the views and the prediction change "
      "for the typed input. Measure scores the run's held-out set with each layer, then each kind, off.");
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel("Layers:"));
  toggles_ = new QHBoxLayout;
  row->addLayout(toggles_);
  row->addStretch(1);
  measure_ = new QPushButton("Measure drop per layer");
  measure_->setObjectName("knockout_measure");
  measure_->setToolTip("Evaluate the run with each layer off in turn (on the analysis thread); a bar per layer of the metric's drop.");
  row->addWidget(measure_);
  v->addLayout(row);
  status_ = new QLabel;
  status_->setWordWrap(true);
  v->addWidget(status_);
  plot_ = make_plot(this, "Metric lost with the layer knocked out", "knocked out", "drop in the task metric");
  plot_->setObjectName("knockout_plot");
  v->addWidget(plot_, 2);
  table_ = new QTableWidget;
  table_->setObjectName("knockout_table");
  add_table_export(table_);
  v->addWidget(table_, 1);
  connect(measure_, &QPushButton::clicked, this, [this] {
    if (run_dir_.isEmpty()) return;
    measure_->setEnabled(false);
    status_->setText("measuring: one evaluation per row …");
    emit measureRequested(run_dir_);
  });
}

void KnockOutView::setModel(const ModelSource& source) {
  for (QPushButton* b : buttons_) delete b;
  buttons_.clear();
  const std::string schedule = source.config.schedule;
  for (size_t i = 0; i < schedule.size(); ++i) {
    auto* b = new QPushButton(QString("%1 %2").arg(i).arg(QChar(schedule[i])));
    b->setObjectName(QString("knockout_layer_%1").arg(i));
    b->setCheckable(true);
    b->setToolTip(QString("Layer %1 (%2): checked = switched off for the typed input").arg(i).arg(layer_kind_name(source.config.layers()[i])));
    toggles_->addWidget(b);
    buttons_.push_back(b);
    connect(b, &QPushButton::toggled, this, [this] { emit knockOutChanged(knockedOut()); });
  }
  run_dir_ = source.task.isEmpty() ? QString() : source.run_dir;
  measure_->setEnabled(!run_dir_.isEmpty());
  status_->setText(run_dir_.isEmpty() ? "Measure needs a fine-tuned run (a task to score); the toggles work on any model." : "");
  plot_->clearPlottables();
  replot_lazy(plot_);
  fill_table(table_, {}, {});
}

std::vector<int64_t> KnockOutView::knockedOut() const {
  std::vector<int64_t> off;
  for (size_t i = 0; i < buttons_.size(); ++i)
    if (buttons_[i]->isChecked()) off.push_back(static_cast<int64_t>(i));
  return off;
}

QPushButton* KnockOutView::layerButton(int i) const {
  return i >= 0 && static_cast<size_t>(i) < buttons_.size() ? buttons_[static_cast<size_t>(i)] : nullptr;
}

void KnockOutView::onMeasured(const std::vector<jobs::KnockOutRow>& rows, const QString& metric) {
  measure_->setEnabled(true);
  if (rows.empty()) return;
  const std::string m = metric.toStdString();
  const double base = rows.front().metrics.at(m);
  status_->setText(QString("%1 with nothing knocked out: %2").arg(metric).arg(base, 0, 'f', 4));
  plot_->clearPlottables();
  auto* bars = new QCPBars(plot_->xAxis, plot_->yAxis);
  bars->setBrush(series_color(0));
  bars->setPen(Qt::NoPen);
  auto labels = QSharedPointer<QCPAxisTickerText>::create();
  QVector<QStringList> table;
  double lo = 0, hi = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const double drop = base - rows[i].metrics.at(m);
    table.push_back({QString::fromStdString(rows[i].what), QString::number(rows[i].metrics.at(m), 'f', 4), QString::number(drop, 'f', 4)});
    if (i == 0) continue;
    bars->addData(static_cast<double>(i), drop);
    labels->addTick(static_cast<double>(i), QString::fromStdString(rows[i].what));
    lo = std::min(lo, drop), hi = std::max(hi, drop);
  }
  plot_->xAxis->setTicker(labels);
  plot_->xAxis->setRange(0.3, static_cast<double>(rows.size()) - 0.3);
  plot_->yAxis->setRange(lo - 0.05 * (hi - lo + 1e-3), hi + 0.05 * (hi - lo + 1e-3));
  plot_->yAxis->setLabel("drop in " + metric);
  replot_lazy(plot_);
  fill_table(table_, {"knocked out", metric, "drop"}, table);
}

void KnockOutView::onFailed(const QString& message) {
  measure_->setEnabled(!run_dir_.isEmpty());
  status_->setText("could not measure: " + message);
}

}  // namespace mabert::ui
